//! The SDK's sample contracts, as real `.wasm` built by `weft-contract-artifacts`, through the
//! offline `Harness` (the same `Simulator` the node uses).

use weft_contract_artifacts::{ALL, ASSET_TRANSFER, Kind};
use weft_runtime::{FailureKind, Harness, ModuleShape, ValidationLimits, validate};

fn samples() -> Vec<(&'static str, usize, ModuleShape)> {
    ALL.iter()
        .filter(|c| c.kind == Kind::Sample)
        .map(|c| {
            let wasm = std::fs::read(c.path).unwrap();
            let shape = validate(&wasm, &ValidationLimits::default())
                .unwrap_or_else(|e| panic!("{} fails validation: {e}", c.package));
            (c.package, wasm.len(), shape)
        })
        .collect()
}

#[test]
fn caps_are_about_twice_what_the_samples_need() {
    let samples = samples();
    assert!(samples.len() >= 4);
    let need = |f: &dyn Fn(usize, &ModuleShape) -> u64| {
        samples.iter().map(|(_, size, s)| f(*size, s)).max().unwrap()
    };
    let l = ValidationLimits::default();
    let checks: Vec<(&str, u64, u64)> = vec![
        ("module bytes", need(&|size, _| size as u64), l.max_module_bytes as u64),
        ("functions", need(&|_, s| u64::from(s.functions + s.imports)), u64::from(l.max_functions)),
        ("parameters", need(&|_, s| s.max_params as u64), l.max_params as u64),
        ("locals", need(&|_, s| s.max_locals), l.max_locals),
        (
            "body bytes",
            need(&|_, s| s.max_function_body_bytes as u64),
            l.max_function_body_bytes as u64,
        ),
        (
            "br_table targets",
            need(&|_, s| u64::from(s.max_br_table_targets)),
            u64::from(l.max_br_table_targets),
        ),
        ("globals", need(&|_, s| u64::from(s.globals)), u64::from(l.max_globals)),
        ("table elements", need(&|_, s| s.table_elements), l.max_table_elements),
        ("data bytes", need(&|_, s| s.data_bytes as u64), l.max_data_bytes as u64),
        ("initial pages", need(&|_, s| s.initial_memory_pages), l.max_initial_memory_pages),
        (
            "nesting depth",
            need(&|_, s| u64::from(s.max_nesting_depth)),
            u64::from(l.max_nesting_depth),
        ),
        (
            "branch edges of one body",
            need(&|_, s| s.max_function_branch_edges),
            l.max_function_branch_edges,
        ),
        ("compile-cost units", need(&|_, s| s.compile_units), l.max_compile_units),
    ];
    for (what, need, cap) in checks {
        let ratio = cap as f64 / need as f64;
        assert!((1.5..=3.0).contains(&ratio), "{what}: cap {cap} is {ratio:.2}x the need {need}");
    }
}

#[test]
fn every_sample_deploys_and_every_misbehave_fixture_deploys() {
    let mut h = Harness::new().unwrap();
    for c in ALL {
        h.deploy(c.package, &std::fs::read(c.path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", c.package));
    }
}

#[test]
fn asset_transfer_end_to_end_on_real_wasm() {
    let mut h = Harness::new().unwrap();
    h.deploy("basic", &std::fs::read(ASSET_TRANSFER).unwrap()).unwrap();
    let init = h.submit("basic", "InitLedger", &[""; 0]).unwrap().unwrap();
    assert_eq!(init.rwset.writes.len(), 6);
    assert!(init.fuel_used > 0);

    let read = h.query("basic", "ReadAsset", &["asset1"]).unwrap().unwrap();
    let json = String::from_utf8(read.response.payload).unwrap();
    assert!(json.contains("\"Owner\":\"Tomoko\""), "{json}");

    let transfer = h.submit("basic", "TransferAsset", &["asset1", "Christopher"]).unwrap().unwrap();
    assert_eq!(transfer.response.payload, b"Tomoko");
    assert_eq!(transfer.rwset.reads.len(), 1);
    assert_eq!(transfer.rwset.writes.len(), 1);
    assert_eq!(transfer.rwset.reads[0].version.unwrap().block_num, 1);

    let created = h.submit("basic", "CreateAsset", &["asset1", "x", "1", "y", "2"]).unwrap();
    let failed = created.unwrap_err();
    assert_eq!(failed.kind, FailureKind::ErrorStatus);
    assert_eq!(failed.message, "the asset asset1 already exists");

    let all = h.query("basic", "GetAllAssets", &[""; 0]).unwrap().unwrap();
    let r = &all.rwset.range_queries_info[0];
    assert!(r.itr_exhausted);
    assert_eq!(r.reads.len(), 6);
    assert!(all.rwset.reads.is_empty());

    // A write during a query fails; the same call as a transaction succeeds.
    let q = h.query("basic", "DeleteAsset", &["asset2"]).unwrap().unwrap_err();
    assert_eq!(q.kind, FailureKind::WriteDuringQuery);
    h.submit("basic", "DeleteAsset", &["asset2"]).unwrap().unwrap();
    assert_eq!(h.get("basic", b"asset2"), None);
    assert_eq!(h.height(), 3);
}

#[test]
fn bad_arguments_to_a_rust_contract_are_a_readable_failure() {
    let mut h = Harness::new().unwrap();
    h.deploy("basic", &std::fs::read(ASSET_TRANSFER).unwrap()).unwrap();
    let bad = h.invoke("basic", "CreateAsset", &["a", "b", "not-a-number", "d", "1"]).unwrap();
    let failed = bad.unwrap_err();
    assert_eq!(failed.status, 500);
    assert!(!failed.message.is_empty());
}

#[test]
fn abstore_init_invoke_query_on_real_wasm() {
    let mut h = Harness::new().unwrap();
    h.deploy("ab", &std::fs::read(weft_contract_artifacts::ABSTORE).unwrap()).unwrap();
    let init = h.init("ab", &["A", "100", "B", "200"]).unwrap().unwrap();
    assert_eq!(init.rwset.writes.len(), 2);
    h.submit("ab", "invoke", &["A", "B", "30"]).unwrap().unwrap();
    let a = h.query("ab", "query", &["A"]).unwrap().unwrap();
    assert_eq!(a.response.payload, b"70");
    let too_much = h.invoke("ab", "invoke", &["A", "B", "1000"]).unwrap().unwrap_err();
    assert_eq!(too_much.kind, FailureKind::ErrorStatus);
    assert_eq!(h.get("ab", b"B"), Some(b"230".to_vec()));
}

#[test]
fn a_simple_sdk_transaction_uses_a_small_share_of_the_budget() {
    let mut h = Harness::new().unwrap();
    h.deploy("kv", &std::fs::read(weft_contract_artifacts::KV).unwrap()).unwrap();
    let put = h.submit("kv", "Put", &["key1", "value-2"]).unwrap().unwrap();
    println!("kv Put used {} fuel", put.fuel_used);
    assert!(put.fuel_used < weft_runtime::DEFAULT_FUEL / 10_000, "{}", put.fuel_used);
}

#[test]
fn a_pending_block_is_validated_with_mvcc_on_commit() {
    use weft_proto::v1::TxValidationCode;
    let mut h = Harness::new().unwrap();
    h.deploy("basic", &std::fs::read(ASSET_TRANSFER).unwrap()).unwrap();
    h.submit("basic", "InitLedger", &[""; 0]).unwrap().unwrap();
    // Two transfers of the same asset endorsed against the same committed state.
    h.invoke("basic", "TransferAsset", &["asset1", "Max"]).unwrap().unwrap();
    h.invoke("basic", "TransferAsset", &["asset1", "Adriana"]).unwrap().unwrap();
    // A scan of all assets, endorsed before either transfer commits: a phantom read.
    h.invoke("basic", "GetAllAssets", &[""; 0]).unwrap().unwrap();
    assert_eq!(h.pending().len(), 3);
    let block = h.commit().unwrap();
    assert_eq!(block.block_num, 2);
    assert_eq!(
        block.codes(),
        vec![
            TxValidationCode::Valid,
            TxValidationCode::MvccReadConflict,
            TxValidationCode::PhantomReadConflict
        ]
    );
    let asset = String::from_utf8(h.get("basic", b"asset1").unwrap()).unwrap();
    assert!(asset.contains("\"Owner\":\"Max\""), "{asset}");
    assert!(h.pending().is_empty());
}
