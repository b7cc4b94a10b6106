//! The one change made to a module before it is compiled: every `memory.fill` calls an added
//! function that skips the fill when it would write nothing.
//!
//! Why: wasmtime runs `memory.fill` as a library call to the C library's `memset`. On CPUs
//! with AVX-512, glibc's `memset` stores through a byte mask even for 0 bytes; a masked store
//! to a page that is not mapped in yet (any page of linear memory the instance has not
//! touched, such as every page of a fresh pooling slot) takes a microcode assist of a few
//! hundred nanoseconds, and because it writes nothing, the page is never mapped in and the
//! next one pays again. A loop of `memory.fill(x, 0, 0)` then ran 30x slower than its fuel
//! price on the first call of a freshly deployed module (12-15 s instead of under a second),
//! and as fast as priced once the slot's pages were mapped in. No fuel price can cover that
//! (the per-operator price is at most 255), so a fill of nothing no longer reaches `memset`.
//!
//! The added function keeps the semantics exactly: a fill of 0 bytes at an address past the
//! end of memory still traps (out of bounds), at or below the end it does nothing. Every peer
//! compiles the same rewritten module, so fuel stays deterministic; the code hash is still
//! the hash of the module as deployed.

use std::borrow::Cow;

use wasm_encoder::reencode::{Error as ReencodeError, Reencode, utils};
use wasm_encoder::{BlockType, CodeSection, Function, FunctionSection, Instruction, ValType};
use wasmparser::{Operator, Parser, Payload, TypeRef};

/// `wasm` with every `memory.fill` replaced by a call to the added guard function, or `wasm`
/// itself if it has none. Errors are parse errors of a module that passed validation (so in
/// practice none).
pub(crate) fn guard_memory_fill(wasm: &[u8]) -> Result<Cow<'_, [u8]>, String> {
    let Some(func_imports) = scan(wasm).map_err(|e| e.to_string())? else {
        return Ok(Cow::Borrowed(wasm));
    };
    let mut guard = FillGuard { func_imports, helper_type: 0, helper_func: 0 };
    let mut module = wasm_encoder::Module::new();
    guard
        .parse_core_module(&mut module, Parser::new(0), wasm)
        .map_err(|e: ReencodeError<std::convert::Infallible>| e.to_string())?;
    Ok(Cow::Owned(module.finish()))
}

/// The number of imported functions if the module uses `memory.fill`, else `None`.
fn scan(wasm: &[u8]) -> wasmparser::Result<Option<u32>> {
    let mut func_imports = 0;
    let mut fills = false;
    for payload in Parser::new(0).parse_all(wasm) {
        match payload? {
            Payload::ImportSection(imports) => {
                for import in imports.into_imports() {
                    if matches!(import?.ty, TypeRef::Func(_) | TypeRef::FuncExact(_)) {
                        func_imports += 1;
                    }
                }
            }
            Payload::CodeSectionEntry(body) if !fills => {
                let mut ops = body.get_operators_reader()?;
                while !ops.eof() {
                    if matches!(ops.read()?, Operator::MemoryFill { .. }) {
                        fills = true;
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(fills.then_some(func_imports))
}

/// Re-encodes a module unchanged but for `memory.fill`, appending the guard function (its
/// type last in the type section, itself last among the functions, so no index moves).
struct FillGuard {
    func_imports: u32,
    helper_type: u32,
    helper_func: u32,
}

impl Reencode for FillGuard {
    type Error = std::convert::Infallible;

    fn parse_type_section(
        &mut self,
        types: &mut wasm_encoder::TypeSection,
        section: wasmparser::TypeSectionReader<'_>,
    ) -> Result<(), ReencodeError<Self::Error>> {
        utils::parse_type_section(self, types, section)?;
        self.helper_type = types.len();
        types.ty().function([ValType::I32, ValType::I32, ValType::I32], []);
        Ok(())
    }

    fn parse_function_section(
        &mut self,
        functions: &mut FunctionSection,
        section: wasmparser::FunctionSectionReader<'_>,
    ) -> Result<(), ReencodeError<Self::Error>> {
        utils::parse_function_section(self, functions, section)?;
        self.helper_func = self.func_imports + functions.len();
        functions.function(self.helper_type);
        Ok(())
    }

    fn parse_code_section(
        &mut self,
        code: &mut CodeSection,
        section: wasmparser::CodeSectionReader<'_>,
    ) -> Result<(), ReencodeError<Self::Error>> {
        utils::parse_code_section(self, code, section)?;
        // (func (param $dst i32) (param $val i32) (param $len i32)
        //   (if (i32.or (local.get $len)
        //               (i32.gt_u (local.get $dst) (i32.shl (memory.size) (i32.const 16))))
        //     (then (memory.fill (local.get $dst) (local.get $val) (local.get $len)))))
        let mut helper = Function::new([]);
        helper
            .instructions()
            .local_get(2)
            .local_get(0)
            .memory_size(0)
            .i32_const(16)
            .i32_shl()
            .i32_gt_u()
            .i32_or()
            .if_(BlockType::Empty)
            .local_get(0)
            .local_get(1)
            .local_get(2)
            .memory_fill(0)
            .end()
            .end();
        code.function(&helper);
        Ok(())
    }

    fn instruction<'a>(
        &mut self,
        op: Operator<'a>,
    ) -> Result<Instruction<'a>, ReencodeError<Self::Error>> {
        match op {
            Operator::MemoryFill { mem: 0 } => Ok(Instruction::Call(self.helper_func)),
            op => utils::instruction(self, op),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(body: &str) -> Vec<u8> {
        wat::parse_str(format!(
            r#"(module (import "weft_v1" "log" (func $log (param i32 i32 i32) (result i32)))
                 (memory 1) (func $f (export "f") (param i32 i32 i32) {body}))"#
        ))
        .unwrap()
    }

    #[test]
    fn modules_without_fills_are_left_alone() {
        let wasm = module("(memory.copy (local.get 0) (local.get 1) (local.get 2))");
        assert!(matches!(guard_memory_fill(&wasm).unwrap(), Cow::Borrowed(_)));
    }

    #[test]
    fn fills_call_the_guard_and_the_result_validates() {
        let wasm = module("(memory.fill (local.get 0) (local.get 1) (local.get 2))");
        let guarded = guard_memory_fill(&wasm).unwrap();
        wasmparser::Validator::new().validate_all(&guarded).unwrap();
        assert_ne!(guarded.as_ref(), wasm.as_slice());
        // Only the guard itself still contains `memory.fill` (opcode 0xfc 0x0b).
        let fills = guarded.windows(2).filter(|w| w == &[0xfc, 0x0b]).count();
        assert_eq!(fills, 1);
    }
}
