//! Embeds the sample contracts (`weft-contract-artifacts` builds them to `.wasm`) so that
//! `weft dev` can deploy them from any directory.
fn main() {
    use std::fmt::Write;
    let mut code = String::from(
        "/// The sample contracts: (name, wasm).\npub(crate) const SAMPLES: &[(&str, &[u8])] = &[\n",
    );
    for contract in weft_contract_artifacts::ALL {
        if contract.kind == weft_contract_artifacts::Kind::Sample {
            println!("cargo:rerun-if-changed={}", contract.path);
            let _ = writeln!(
                code,
                "    ({:?}, include_bytes!({:?})),",
                contract.package, contract.path
            );
        }
    }
    code.push_str("];\n");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR is set"));
    std::fs::write(out.join("samples.rs"), code).expect("writing samples.rs");
}
