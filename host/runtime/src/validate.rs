//! Deploy-time validation: every rule a module must pass before anything is compiled. Each
//! failure is a [`ValidationError`] naming the rule it broke.
//!
//! Compiling is not free (a 41 KB module of 10k functions with 1000 parameters each took 1.9 s
//! to compile; 220 KB of `br_if`s took 13 s on a busy machine), so the caps below reject
//! costly shapes up front, with a static compile-cost measure (`crate::compile_cost`) for
//! the control flow that shape caps cannot see. They are set at about twice what the SDK's
//! own contracts need, and they depend on nothing but the module's bytes: every node
//! accepts or refuses the same modules.

use wasmparser::{
    ExternalKind, FuncType, Parser, Payload, TypeRef, ValType, Validator, WasmFeatures,
};

use weft_rwset::text::{escape_text, excerpt};

use crate::compile_cost;
use crate::engine::ALLOWED_FEATURES;

/// Caps on the shape of a deployable module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidationLimits {
    /// Largest module, in bytes.
    pub max_module_bytes: usize,
    /// Most functions (imported and defined).
    pub max_functions: u32,
    /// Most parameters of one function type.
    pub max_params: usize,
    /// Most results of one function type.
    pub max_results: usize,
    /// Most locals declared by one function (parameters excluded).
    pub max_locals: u64,
    /// Largest function body, in bytes.
    pub max_function_body_bytes: usize,
    /// Most targets of one `br_table`.
    pub max_br_table_targets: u32,
    /// Deepest nesting of `block`, `loop` and `if` in one function.
    pub max_nesting_depth: u32,
    /// Most branch edges of one function body (`crate::compile_cost`).
    pub max_function_branch_edges: u64,
    /// Most compile-cost units of the whole module (`crate::compile_cost`).
    pub max_compile_units: u64,
    /// Most globals.
    pub max_globals: u32,
    /// Most function types.
    pub max_types: u32,
    /// Most table elements (initial and maximum).
    pub max_table_elements: u64,
    /// Most element segments.
    pub max_element_segments: u32,
    /// Most data segments.
    pub max_data_segments: u32,
    /// Most bytes of data segments in total.
    pub max_data_bytes: usize,
    /// Most initial pages (64 KiB) of linear memory.
    pub max_initial_memory_pages: u64,
}

impl Default for ValidationLimits {
    /// About twice what the SDK's sample contracts need (`tests/contracts.rs` checks the ratio
    /// against the real `.wasm`; the largest sample needs 120 KB, 478 functions, 9 parameters,
    /// 35 locals, 7.2 KB bodies, 40 `br_table` targets, 3 globals, 77 table elements, 1 data
    /// segment of 19 KB, 10 initial pages, blocks nested 42 deep, 207 branch edges in one
    /// body and 77,197 compile-cost units).
    fn default() -> ValidationLimits {
        ValidationLimits {
            max_module_bytes: 256 << 10,
            max_functions: 1_000,
            max_params: 20,
            max_results: 4,
            max_locals: 80,
            max_function_body_bytes: 16 << 10,
            max_br_table_targets: 100,
            max_nesting_depth: 100,
            max_function_branch_edges: 420,
            max_compile_units: 160_000,
            max_globals: 8,
            max_types: 200,
            max_table_elements: 160,
            max_element_segments: 4,
            max_data_segments: 4,
            max_data_bytes: 48 << 10,
            max_initial_memory_pages: 24,
        }
    }
}

/// A module refused at deploy time. The variant names the rule. Names the module supplies
/// (imports, exports) and parser messages are quoted escaped and cut
/// (`weft_rwset::text::excerpt`), so a 100 KB name makes a short, one-line error.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// The module is larger than the size cap.
    #[error("module size: {size} bytes is over the cap of {cap}")]
    TooLarge {
        /// Size of the module.
        size: usize,
        /// The cap.
        cap: usize,
    },
    /// The bytes are not a valid WebAssembly module.
    #[error("invalid wasm: {0}")]
    InvalidWasm(String),
    /// The module uses a proposal that is switched off (SIMD, threads, exceptions, GC,
    /// multi-memory, memory64, ...).
    #[error("disabled proposal: {0}")]
    DisabledProposal(String),
    /// An import from a module other than the host's ABI module.
    #[error("imports: `{module}::{name}` is not from the `{}` module", weft_abi::IMPORT_MODULE)]
    ForeignImport {
        /// Module name of the import.
        module: String,
        /// Item name of the import.
        name: String,
    },
    /// An import from another version of the ABI.
    #[error(
        "imports: ABI module `{module}` is not supported (this host provides `{}`)",
        weft_abi::IMPORT_MODULE
    )]
    UnsupportedAbiVersion {
        /// The module name imported from.
        module: String,
    },
    /// An import the host does not provide.
    #[error("imports: `{name}` is not a host function of `{}`", weft_abi::IMPORT_MODULE)]
    UnknownHostFunction {
        /// The item name.
        name: String,
    },
    /// A host function imported with the wrong signature, or something other than a function.
    #[error("imports: `{name}` has signature {found}, the host provides {expected}")]
    ImportSignature {
        /// The item name.
        name: String,
        /// What the module declared.
        found: String,
        /// What the host provides.
        expected: String,
    },
    /// An export that is not allowed, or a required export missing or of the wrong kind.
    #[error("exports: {0}")]
    Exports(String),
    /// The module's memory breaks a rule (exactly one, not shared, initial size capped).
    #[error("memory: {0}")]
    Memory(String),
    /// The module asks for more initial memory than the cap. A Rust contract built without
    /// the SDK's 64 KiB stack flag gets rustc's 1 MiB stack, which alone puts it over.
    #[error(
        "cap on initial memory pages: {pages} pages of 64 KiB is over the cap of {cap}; a Rust \
         contract built without the SDK's 64 KiB stack gets a 1 MiB one: build it with \
         `weft contract build`, which links it with `-zstack-size=65536`"
    )]
    InitialMemory {
        /// The module's initial pages.
        pages: u64,
        /// The cap.
        cap: u64,
    },
    /// The module has a start function.
    #[error("start function: contracts may not run code at instantiation")]
    StartFunction,
    /// A function, or the whole module, would cost more to compile than its cap, by the static
    /// measure of `crate::compile_cost` (branches and nesting count most).
    #[error(
        "compile cost: {what}, over the cap of {cap} (a static measure of the work of compiling, \
         the same on every node; branches, loops and indirect calls count most)"
    )]
    CompileCost {
        /// What was measured, and how much.
        what: String,
        /// The cap.
        cap: u64,
    },
    /// A count or size over its cap.
    #[error("cap on {what}: {found} is over the cap of {cap}")]
    OverCap {
        /// What was counted.
        what: &'static str,
        /// The count.
        found: u64,
        /// The cap.
        cap: u64,
    },
}

/// Facts about a module that passed validation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModuleShape {
    /// Functions defined by the module.
    pub functions: u32,
    /// Host functions it imports.
    pub imports: u32,
    /// Largest parameter count of any function type.
    pub max_params: usize,
    /// Largest local count of any function.
    pub max_locals: u64,
    /// Largest function body, in bytes.
    pub max_function_body_bytes: usize,
    /// Largest `br_table`.
    pub max_br_table_targets: u32,
    /// Deepest nesting of blocks in one function.
    pub max_nesting_depth: u32,
    /// Most branch edges of one function body (`crate::compile_cost::BodyCost::edges`).
    pub max_function_branch_edges: u64,
    /// Operators in all function bodies.
    pub operators: u64,
    /// Branch edges in all function bodies.
    pub branch_edges: u64,
    /// Compile cost of the whole module, in units (`crate::compile_cost`).
    pub compile_units: u64,
    /// Globals.
    pub globals: u32,
    /// Table elements (initial).
    pub table_elements: u64,
    /// Data segments.
    pub data_segments: u32,
    /// Bytes in data segments.
    pub data_bytes: usize,
    /// Initial memory pages.
    pub initial_memory_pages: u64,
}

fn cap(what: &'static str, found: u64, cap: u64) -> Result<(), ValidationError> {
    if found > cap { Err(ValidationError::OverCap { what, found, cap }) } else { Ok(()) }
}

fn invalid(e: wasmparser::BinaryReaderError) -> ValidationError {
    ValidationError::InvalidWasm(parser_text(&e))
}

/// Longest parser message a deploy error quotes: wasmparser's messages may quote
/// module-supplied names (e.g. a duplicate export), which can be 100 KB long.
const MAX_PARSER_MESSAGE_LEN: usize = 512;

/// A parser message on one line (some print byte arrays over several), escaped and cut
/// (`weft_rwset::text`).
fn parser_text(e: &impl std::fmt::Display) -> String {
    let one_line = e.to_string().split_whitespace().collect::<Vec<_>>().join(" ");
    escape_text(one_line.as_bytes(), MAX_PARSER_MESSAGE_LEN)
}

/// The first bytes of every WebAssembly module.
const MAGIC: &[u8] = b"\0asm";

fn sig_text(params: &[ValType], results: &[ValType]) -> String {
    let list = |v: &[ValType]| v.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(", ");
    format!("({}) -> ({})", list(params), list(results))
}

fn abi_valtype(t: weft_abi::ValType) -> ValType {
    match t {
        weft_abi::ValType::I32 => ValType::I32,
        weft_abi::ValType::I64 => ValType::I64,
    }
}

/// Checks `bytes` against every deploy-time rule, without compiling anything.
pub fn validate(bytes: &[u8], limits: &ValidationLimits) -> Result<ModuleShape, ValidationError> {
    if bytes.len() > limits.max_module_bytes {
        return Err(ValidationError::TooLarge { size: bytes.len(), cap: limits.max_module_bytes });
    }
    if !bytes.starts_with(MAGIC) {
        let head: Vec<String> = bytes.iter().take(4).map(|b| format!("{b:02x}")).collect();
        return Err(ValidationError::InvalidWasm(format!(
            "not a WebAssembly module: it starts with [{}], not the magic bytes [00 61 73 6d] \
             (\"\\0asm\")",
            head.join(" ")
        )));
    }
    // Structure first, with only the allowed proposals; if that fails but the module is valid
    // with every proposal on, the failure is a disabled proposal.
    if let Err(e) = Validator::new_with_features(ALLOWED_FEATURES).validate_all(bytes) {
        let all = WasmFeatures::all() - WasmFeatures::COMPONENT_MODEL;
        return Err(if Validator::new_with_features(all).validate_all(bytes).is_ok() {
            ValidationError::DisabledProposal(parser_text(&e))
        } else {
            invalid(e)
        });
    }

    let mut shape = ModuleShape::default();
    let mut types: Vec<FuncType> = Vec::new();
    let mut func_types: Vec<u32> = Vec::new();
    let mut memories = 0u32;
    let mut exports: Vec<(String, ExternalKind, u32)> = Vec::new();
    let mut defined = 0u32;

    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(invalid)? {
            Payload::TypeSection(reader) => {
                cap("function types", u64::from(reader.count()), u64::from(limits.max_types))?;
                for group in reader {
                    for sub in group.map_err(invalid)?.into_types() {
                        let f = sub.unwrap_func().clone();
                        cap("parameters", f.params().len() as u64, limits.max_params as u64)?;
                        cap("results", f.results().len() as u64, limits.max_results as u64)?;
                        shape.max_params = shape.max_params.max(f.params().len());
                        types.push(f);
                    }
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import.map_err(invalid)?;
                    check_import(&import, &types)?;
                    if let TypeRef::Func(ty) = import.ty {
                        func_types.push(ty);
                    }
                    shape.imports += 1;
                }
            }
            Payload::FunctionSection(reader) => {
                let total = u64::from(reader.count()) + func_types.len() as u64;
                cap("functions", total, u64::from(limits.max_functions))?;
                shape.functions = reader.count();
                for ty in reader {
                    func_types.push(ty.map_err(invalid)?);
                }
            }
            Payload::TableSection(reader) => {
                cap("tables", u64::from(reader.count()), 1)?;
                for table in reader {
                    let ty = table.map_err(invalid)?.ty;
                    let elements = ty.maximum.unwrap_or(ty.initial).max(ty.initial);
                    cap("table elements", ty.initial, limits.max_table_elements)?;
                    cap("table elements", elements, limits.max_table_elements)?;
                    shape.table_elements = ty.initial;
                }
            }
            Payload::MemorySection(reader) => {
                for memory in reader {
                    let ty = memory.map_err(invalid)?;
                    memories += 1;
                    if ty.shared || ty.memory64 {
                        return Err(ValidationError::Memory("shared or 64-bit memory".into()));
                    }
                    if ty.initial > limits.max_initial_memory_pages {
                        return Err(ValidationError::InitialMemory {
                            pages: ty.initial,
                            cap: limits.max_initial_memory_pages,
                        });
                    }
                    shape.initial_memory_pages = ty.initial;
                }
            }
            Payload::GlobalSection(reader) => {
                cap("globals", u64::from(reader.count()), u64::from(limits.max_globals))?;
                shape.globals = reader.count();
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let e = export.map_err(invalid)?;
                    exports.push((e.name.to_owned(), e.kind, e.index));
                }
            }
            Payload::StartSection { .. } => return Err(ValidationError::StartFunction),
            Payload::ElementSection(reader) => {
                cap(
                    "element segments",
                    u64::from(reader.count()),
                    u64::from(limits.max_element_segments),
                )?;
            }
            Payload::DataSection(reader) => {
                cap(
                    "data segments",
                    u64::from(reader.count()),
                    u64::from(limits.max_data_segments),
                )?;
                shape.data_segments = reader.count();
                for data in reader {
                    shape.data_bytes += data.map_err(invalid)?.data.len();
                }
                cap("data bytes", shape.data_bytes as u64, limits.max_data_bytes as u64)?;
            }
            Payload::CodeSectionEntry(body) => {
                let size = body.range().len();
                cap("function body bytes", size as u64, limits.max_function_body_bytes as u64)?;
                shape.max_function_body_bytes = shape.max_function_body_bytes.max(size);
                let mut locals = 0u64;
                for group in body.get_locals_reader().map_err(invalid)? {
                    locals += u64::from(group.map_err(invalid)?.0);
                    cap("locals", locals, limits.max_locals)?;
                }
                shape.max_locals = shape.max_locals.max(locals);
                // The body's index among all functions (imports first), for messages.
                let index = shape.imports + defined;
                defined += 1;
                let cost = compile_cost::measure(&body).map_err(invalid)?;
                let n = cost.max_br_table_targets;
                cap("br_table targets", u64::from(n), u64::from(limits.max_br_table_targets))?;
                shape.max_br_table_targets = shape.max_br_table_targets.max(n);
                check_compile_cost(&mut shape, index, &cost, limits)?;
            }
            _ => {}
        }
    }
    if memories != 1 {
        return Err(ValidationError::Memory(format!(
            "the module defines {memories} memories, not 1"
        )));
    }
    check_exports(&exports, &types, &func_types)?;
    Ok(shape)
}

/// Adds one body's [`compile_cost::BodyCost`] to `shape`, refusing it over a compile-cost cap.
fn check_compile_cost(
    shape: &mut ModuleShape,
    index: u32,
    cost: &compile_cost::BodyCost,
    limits: &ValidationLimits,
) -> Result<(), ValidationError> {
    let over = |what: String, cap: u64| Err(ValidationError::CompileCost { what, cap });
    if cost.max_depth > limits.max_nesting_depth {
        let what = format!("function {index} nests blocks {} deep", cost.max_depth);
        return over(what, u64::from(limits.max_nesting_depth));
    }
    if cost.edges > limits.max_function_branch_edges {
        let what = format!("function {index} has {} branch edges", cost.edges);
        return over(what, limits.max_function_branch_edges);
    }
    shape.max_nesting_depth = shape.max_nesting_depth.max(cost.max_depth);
    shape.max_function_branch_edges = shape.max_function_branch_edges.max(cost.edges);
    shape.operators += cost.operators;
    shape.branch_edges += cost.edges;
    shape.compile_units = shape.compile_units.saturating_add(cost.units());
    if shape.compile_units > limits.max_compile_units {
        let what = format!(
            "the module measures over {} units (operators + {} per branch edge)",
            shape.compile_units,
            compile_cost::EDGE_UNITS
        );
        return over(what, limits.max_compile_units);
    }
    Ok(())
}

fn check_import(
    import: &wasmparser::Import<'_>,
    types: &[FuncType],
) -> Result<(), ValidationError> {
    if import.module != weft_abi::IMPORT_MODULE {
        if import.module.starts_with(weft_abi::IMPORT_MODULE_PREFIX) {
            return Err(ValidationError::UnsupportedAbiVersion { module: excerpt(import.module) });
        }
        return Err(ValidationError::ForeignImport {
            module: excerpt(import.module),
            name: excerpt(import.name),
        });
    }
    let Some(host) = weft_abi::host_function(import.name) else {
        return Err(ValidationError::UnknownHostFunction { name: excerpt(import.name) });
    };
    let params: Vec<ValType> = host.params.iter().map(|t| abi_valtype(*t)).collect();
    let results: Vec<ValType> = host.results.iter().map(|t| abi_valtype(*t)).collect();
    let expected = sig_text(&params, &results);
    let found = match import.ty {
        TypeRef::Func(ty) => match types.get(ty as usize) {
            Some(f) if f.params() == params.as_slice() && f.results() == results.as_slice() => {
                return Ok(());
            }
            Some(f) => sig_text(f.params(), f.results()),
            None => "an unknown type".to_owned(),
        },
        TypeRef::FuncExact(_) => "an exact-type function".to_owned(),
        TypeRef::Table(_) => "a table (not a function)".to_owned(),
        TypeRef::Memory(_) => "a memory (not a function)".to_owned(),
        TypeRef::Global(_) => "a global (not a function)".to_owned(),
        TypeRef::Tag(_) => "a tag (not a function)".to_owned(),
    };
    Err(ValidationError::ImportSignature { name: excerpt(import.name), found, expected })
}

fn check_exports(
    exports: &[(String, ExternalKind, u32)],
    types: &[FuncType],
    func_types: &[u32],
) -> Result<(), ValidationError> {
    use weft_abi::export;
    for (name, kind, index) in exports {
        if *kind == ExternalKind::Global && export::TOLERATED_GLOBALS.contains(&name.as_str()) {
            continue;
        }
        if !export::ALLOWED.contains(&name.as_str()) {
            let name = excerpt(name);
            return Err(ValidationError::Exports(format!("`{name}` may not be exported")));
        }
        if name == export::MEMORY {
            if *kind != ExternalKind::Memory {
                return Err(ValidationError::Exports("`memory` must be the memory".into()));
            }
            continue;
        }
        let ty = (*kind == ExternalKind::Func)
            .then(|| func_types.get(*index as usize))
            .flatten()
            .and_then(|t| types.get(*t as usize));
        match ty {
            Some(f) if f.params().is_empty() && f.results() == [ValType::I32] => {}
            _ => {
                return Err(ValidationError::Exports(format!(
                    "`{name}` must be a function of type () -> (i32)"
                )));
            }
        }
    }
    for required in export::ALLOWED {
        if !exports.iter().any(|(n, _, _)| n == required) {
            return Err(ValidationError::Exports(format!("`{required}` is missing")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPORTS: &str = r#"
        (memory (export "memory") 1)
        (func (export "weft_init") (result i32) i32.const 0)
        (func (export "weft_invoke") (result i32) i32.const 0)"#;

    fn module(body: &str) -> Vec<u8> {
        wat::parse_str(format!("(module {body} {EXPORTS})")).unwrap()
    }

    fn check(body: &str) -> Result<ModuleShape, ValidationError> {
        validate(&module(body), &ValidationLimits::default())
    }

    #[test]
    fn minimal_contract_passes() {
        let shape =
            check(r#"(import "weft_v1" "state_get" (func (param i32 i32) (result i64)))"#).unwrap();
        assert_eq!(shape.imports, 1);
        assert_eq!(shape.functions, 2);
    }

    #[test]
    fn a_module_without_the_magic_bytes_is_named_on_one_line() {
        let mut wasm = module("");
        wasm[1] = 0x3d;
        let message = validate(&wasm, &ValidationLimits::default()).unwrap_err().to_string();
        assert_eq!(
            message,
            r#"invalid wasm: not a WebAssembly module: it starts with [00 3d 73 6d], not the magic bytes [00 61 73 6d] ("\0asm")"#
        );
        let message = validate(b"", &ValidationLimits::default()).unwrap_err().to_string();
        assert!(message.contains("it starts with []"), "{message}");
        // A bad version after the magic bytes: wasmparser's message, on one line.
        let mut wasm = module("");
        wasm[4] = 9;
        let message = validate(&wasm, &ValidationLimits::default()).unwrap_err().to_string();
        assert!(message.starts_with("invalid wasm: ") && !message.contains('\n'), "{message}");
    }

    #[test]
    fn refusals_quote_names_bounded_and_dump_no_structures() {
        let long = "n".repeat(50_000);
        let cases = [
            format!(r#"(import "{long}" "f" (func))"#),
            format!(r#"(import "weft_{long}" "f" (func))"#),
            format!(r#"(import "weft_v1" "{long}" (func))"#),
            format!(r#"(func (export "{long}"))"#),
            r#"(import "weft_v1" "state_get" (memory 1))"#.to_owned(),
            r#"(import "weft_v1" "state_get" (table 1 funcref))"#.to_owned(),
        ];
        for body in cases {
            let message = check(&body).unwrap_err().to_string();
            assert!(message.len() < 300, "{} bytes: {}", message.len(), &message[..300]);
            assert!(!message.contains(['{', '\n']), "{message}");
        }
    }

    #[test]
    fn each_rule_is_named() {
        let err = |body: &str| check(body).unwrap_err();
        assert!(matches!(
            err(r#"(import "env" "clock" (func))"#),
            ValidationError::ForeignImport { .. }
        ));
        assert!(matches!(
            err(r#"(import "weft_v2" "state_get" (func (param i32 i32) (result i64)))"#),
            ValidationError::UnsupportedAbiVersion { .. }
        ));
        assert!(matches!(
            err(r#"(import "weft_v1" "random" (func (result i64)))"#),
            ValidationError::UnknownHostFunction { .. }
        ));
        let e = err(r#"(import "weft_v1" "state_get" (func (param i32) (result i64)))"#);
        assert_eq!(
            e.to_string(),
            "imports: `state_get` has signature (i32) -> (i64), the host provides (i32, i32) -> (i64)"
        );
        assert_eq!(
            err(r#"(import "weft_v1" "state_get" (global i32))"#).to_string(),
            "imports: `state_get` has signature a global (not a function), the host provides \
             (i32, i32) -> (i64)"
        );
        assert!(matches!(err(r#"(func (export "extra"))"#), ValidationError::Exports(_)));
        assert!(matches!(err(r#"(func (export "__heap_base"))"#), ValidationError::Exports(_)));
        check(r#"(global (export "__heap_base") i32 (i32.const 0))"#).unwrap();
        assert!(matches!(err(r#"(func $s) (start $s)"#), ValidationError::StartFunction));
        assert!(matches!(
            err(r#"(func (result v128) v128.const i64x2 0 0)"#),
            ValidationError::DisabledProposal(_)
        ));
        assert!(matches!(
            err(r#"(func (param i32) (result i32) local.get 0 return_call 0)"#),
            ValidationError::DisabledProposal(_)
        ));
        assert!(matches!(err(r#"(memory 1)"#), ValidationError::DisabledProposal(_)));
        assert!(matches!(
            err(r#"(table 100000 funcref)"#),
            ValidationError::OverCap { what: "table elements", .. }
        ));
    }

    #[test]
    fn missing_memory_or_export_is_refused() {
        let bytes = wat::parse_str(
            r#"(module (func (export "weft_invoke") (result i32) i32.const 0)
                       (func (export "weft_init") (result i32) i32.const 0))"#,
        )
        .unwrap();
        assert!(matches!(
            validate(&bytes, &ValidationLimits::default()),
            Err(ValidationError::Memory(_))
        ));
        let bytes = wat::parse_str(
            r#"(module (memory (export "memory") 1)
                       (func (export "weft_invoke") (result i32) i32.const 0))"#,
        )
        .unwrap();
        let e = validate(&bytes, &ValidationLimits::default()).unwrap_err();
        assert_eq!(e.to_string(), "exports: `weft_init` is missing");
        let bytes = wat::parse_str(
            r#"(module (memory (export "memory") 1)
                       (func (export "weft_init") (result i32) i32.const 0))"#,
        )
        .unwrap();
        let e = validate(&bytes, &ValidationLimits::default()).unwrap_err();
        assert_eq!(e.to_string(), "exports: `weft_invoke` is missing");
        let bytes = wat::parse_str(
            r#"(module (memory (export "memory") 1)
                       (func (export "weft_init") (result i32) i32.const 0)
                       (func (export "weft_invoke") (param i32) (result i32) i32.const 0))"#,
        )
        .unwrap();
        assert!(matches!(
            validate(&bytes, &ValidationLimits::default()),
            Err(ValidationError::Exports(_))
        ));
    }

    #[test]
    fn too_much_initial_memory_names_the_fix() {
        // rustc's default 1 MiB stack plus the SDK's arena: 25 pages.
        let bytes = wat::parse_str(
            r#"(module (memory (export "memory") 25)
                       (func (export "weft_init") (result i32) i32.const 0)
                       (func (export "weft_invoke") (result i32) i32.const 0))"#,
        )
        .unwrap();
        let e = validate(&bytes, &ValidationLimits::default()).unwrap_err();
        assert_eq!(e, ValidationError::InitialMemory { pages: 25, cap: 24 });
        let text = e.to_string();
        assert!(text.contains("25 pages of 64 KiB is over the cap of 24"), "{text}");
        assert!(text.contains("build it with `weft contract build`"), "{text}");
    }

    #[test]
    fn the_abi_page_states_the_exports_the_validator_requires() {
        // docs/abi.md once said "weft_init and/or weft_invoke" while the validator required
        // both; both are required (as Fabric's Init and Invoke), and the page says so.
        let page = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/abi.md"));
        let row = page.lines().find(|l| l.contains("`weft_init: () -> i32`")).unwrap();
        assert!(row.contains("`weft_init: () -> i32` and `weft_invoke: () -> i32`, both"), "{row}");
        assert!(!page.contains("and/or"), "docs/abi.md makes an export optional");
        for required in weft_abi::export::ALLOWED {
            assert!(page.contains(&format!("`{required}")), "{required} is not documented");
        }
    }

    #[test]
    fn module_supplied_names_are_quoted_cut_and_escaped() {
        let long = "n".repeat(100_000);
        let e = check(&format!(r#"(import "env" "{long}" (func))"#)).unwrap_err().to_string();
        assert!(e.len() < 200, "{} bytes: {}", e.len(), &e[..100]);
        assert!(e.contains("… (100000 bytes)"), "{e}");
        let e = check(&format!(r#"(func (export "{}\n\1b[2J"))"#, &long[..90_000]));
        let e = e.unwrap_err().to_string();
        assert!(e.len() < 200 && e.contains("may not be exported"), "{e}");
        let e = check(r#"(func (export "x\n\1b"))"#).unwrap_err().to_string();
        assert_eq!(e, "exports: `x\\n\\u{1b}` may not be exported");
        let e = check(r#"(import "weft_v1" "a\nb" (func))"#).unwrap_err().to_string();
        assert_eq!(e, "imports: `a\\nb` is not a host function of `weft_v1`", "escaped once");
        let e = check(&format!(r#"(import "weft_v1" "{long}" (func))"#)).unwrap_err().to_string();
        assert!(e.len() < 200 && e.contains("is not a host function"), "{e}");
        // The parser's own messages can quote names too: a duplicate export.
        let e = check(&format!(r#"(func (export "{long}")) (func (export "{long}"))"#))
            .unwrap_err()
            .to_string();
        assert!(e.len() < 600 && e.starts_with("invalid wasm"), "{e}");
    }

    #[test]
    fn garbage_and_oversize_are_refused() {
        let limits = ValidationLimits::default();
        assert!(matches!(validate(b"\0asmjunk", &limits), Err(ValidationError::InvalidWasm(_))));
        let big = vec![0u8; limits.max_module_bytes + 1];
        assert!(matches!(validate(&big, &limits), Err(ValidationError::TooLarge { .. })));
    }

    #[test]
    fn costly_shapes_are_refused_before_compiling() {
        // Many functions with many parameters: the shape that took seconds to compile.
        let params = "i32 ".repeat(1000);
        let e = check(&format!("(func (param {params}))")).unwrap_err();
        assert!(matches!(e, ValidationError::OverCap { what: "parameters", .. }), "{e}");
        let funcs = "(func)".repeat(5000);
        let e = check(&funcs).unwrap_err();
        assert!(matches!(e, ValidationError::OverCap { what: "functions", .. }), "{e}");
        let locals = "(local i64) ".repeat(3000);
        let e = check(&format!("(func {locals})")).unwrap_err();
        assert!(matches!(e, ValidationError::OverCap { what: "locals", .. }), "{e}");
        let targets = "0 ".repeat(3000);
        let e = check(&format!("(func (block (br_table {targets} (i32.const 0))))")).unwrap_err();
        assert!(matches!(e, ValidationError::OverCap { what: "br_table targets", .. }), "{e}");
        let globals = "(global i32 (i32.const 0))".repeat(100);
        let e = check(&globals).unwrap_err();
        assert!(matches!(e, ValidationError::OverCap { what: "globals", .. }), "{e}");
        let data = format!("(data (i32.const 0) \"{}\")", "a".repeat(16 << 10)).repeat(4);
        let e = check(&data).unwrap_err();
        assert!(matches!(e, ValidationError::OverCap { what: "data bytes", .. }), "{e}");
    }
}
