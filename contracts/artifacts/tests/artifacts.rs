//! Every built contract is valid Wasm; every sample is within the size limit and uses exactly
//! the boundary `weft-abi` defines (imports from its table with its signatures, its exports).

use wasmparser::{ExternalKind, Parser, Payload, TypeRef, ValType, Validator, WasmFeatures};
use weft_abi::{IMPORT_MODULE, ValType as AbiType, export};
use weft_contract_artifacts::{ALL, Kind, MAX_SAMPLE_SIZE, shadow_stack_size};

fn abi_type(t: AbiType) -> ValType {
    match t {
        AbiType::I32 => ValType::I32,
        AbiType::I64 => ValType::I64,
    }
}

#[test]
fn every_contract_is_valid_wasm_without_post_mvp_extras() {
    assert!(!ALL.is_empty());
    for contract in ALL {
        let wasm = std::fs::read(contract.path).unwrap();
        // The features rustc 1.95 enables by default for wasm32-unknown-unknown, nothing more
        // (no SIMD, no threads).
        let features = WasmFeatures::MUTABLE_GLOBAL
            | WasmFeatures::SATURATING_FLOAT_TO_INT
            | WasmFeatures::SIGN_EXTENSION
            | WasmFeatures::MULTI_VALUE
            | WasmFeatures::REFERENCE_TYPES
            | WasmFeatures::BULK_MEMORY
            | WasmFeatures::FLOATS;
        Validator::new_with_features(features)
            .validate_all(&wasm)
            .unwrap_or_else(|e| panic!("{} is not valid: {e}", contract.package));
    }
}

#[test]
fn samples_are_at_most_150_kib() {
    for contract in ALL.iter().filter(|c| c.kind == Kind::Sample) {
        let size = std::fs::metadata(contract.path).unwrap().len();
        println!("{:<16} {size:>7} bytes", contract.package);
        assert!(size <= MAX_SAMPLE_SIZE, "{} is {size} bytes", contract.package);
    }
}

#[test]
fn samples_import_only_the_host_table_and_export_only_the_entry_points() {
    for contract in ALL.iter().filter(|c| c.kind == Kind::Sample) {
        let wasm = std::fs::read(contract.path).unwrap();
        let mut types = Vec::new();
        let mut exports = Vec::new();
        for payload in Parser::new(0).parse_all(&wasm) {
            match payload.unwrap() {
                Payload::TypeSection(reader) => {
                    for ty in reader.into_iter_err_on_gc_types() {
                        types.push(ty.unwrap());
                    }
                }
                Payload::ImportSection(reader) => {
                    for import in reader.into_imports() {
                        let import = import.unwrap();
                        assert_eq!(import.module, IMPORT_MODULE, "{}", contract.package);
                        let abi = weft_abi::host_function(import.name).unwrap_or_else(|| {
                            panic!("{} imports unknown {}", contract.package, import.name)
                        });
                        let TypeRef::Func(index) = import.ty else {
                            panic!("{} imports a non-function {}", contract.package, import.name)
                        };
                        let ty = &types[index as usize];
                        let params: Vec<_> = abi.params.iter().map(|t| abi_type(*t)).collect();
                        let results: Vec<_> = abi.results.iter().map(|t| abi_type(*t)).collect();
                        assert_eq!(ty.params(), params, "{} {}", contract.package, import.name);
                        assert_eq!(ty.results(), results, "{} {}", contract.package, import.name);
                    }
                }
                Payload::ExportSection(reader) => {
                    for e in reader {
                        let e = e.unwrap();
                        exports.push((e.name.to_owned(), e.kind));
                    }
                }
                _ => {}
            }
        }
        for (name, kind) in &exports {
            let allowed = export::ALLOWED.contains(&name.as_str())
                || (export::TOLERATED_GLOBALS.contains(&name.as_str())
                    && *kind == ExternalKind::Global);
            assert!(allowed, "{} exports {name}", contract.package);
        }
        for required in export::ALLOWED {
            assert!(
                exports.iter().any(|(n, _)| n == required),
                "{} lacks {required}",
                contract.package
            );
        }
    }
}

#[test]
fn samples_get_the_fast_path_64_kib_stack() {
    for contract in ALL.iter().filter(|c| c.kind == Kind::Sample) {
        let wasm = std::fs::read(contract.path).unwrap();
        assert_eq!(shadow_stack_size(&wasm), Some(64 * 1024), "{}", contract.package);
    }
}
