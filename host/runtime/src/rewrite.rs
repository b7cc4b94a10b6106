//! The one rewrite made to a module before it is compiled: `memory.fill`, `memory.grow` and
//! `table.grow` call added guard functions that skip the library call when it would do
//! nothing.
//!
//! Why `memory.fill`: wasmtime runs it as a library call to the C library's `memset`. On
//! CPUs with AVX-512, glibc's `memset` stores through a byte mask even for 0 bytes; a masked
//! store to a page that is not mapped in yet (any page of linear memory the instance has not
//! touched, such as every page of a fresh pooling slot) takes a microcode assist of a few
//! hundred nanoseconds, and because it writes nothing, the page is never mapped in and the
//! next one pays again. A loop of `memory.fill(x, 0, 0)` then ran 30x slower than its fuel
//! price on the first call of a freshly deployed module (12-15 s instead of under a second),
//! and as fast as priced once the slot's pages were mapped in. No fuel price can cover that
//! (the per-operator price is at most 255), so a fill of nothing no longer reaches `memset`.
//!
//! Why the two `grow`s: a growth of 0 is a library call that no resource-limiter hook sees,
//! so no price but the operator's (at most 255) could cover it, and a flood of them ran
//! about 3x longer than any other way of spending the same fuel. A growth of 0 changes
//! nothing and returns the current size, so the guard returns `memory.size` / `table.size`
//! itself; a real growth still goes through the library call and the limiter, which prices
//! it ([`crate::engine::MEMORY_GROW_FUEL`]). A `memory.grow` past 4 GiB is the other growth
//! the limiter never sees: the guard answers it with -1 (what the instruction returns), so
//! no per-page price is needed to make it cost something (a per-page price overcharged it
//! 70x: a refused request for 100,000 pages cost 100,000 fuel).
//!
//! The fill guard also prices the bytes of a fill. The engine prices bulk-memory bytes in
//! whole fuel units, and 1 fuel a byte (the least it can charge) is about 3x what `memset`
//! takes; so `memory.fill` is priced at 0 a byte and, before it, the guard copies the first
//! half of the bytes to fill onto themselves (a no-op for memory), whose engine price of 1 a
//! byte, paid before any work, makes a filled byte cost 1/2. The copy's range is within the
//! fill's, so it traps (out of bounds) only where the fill would trap anyway: the outcome is
//! the instruction's.
//!
//! The guards keep the semantics exactly: a fill of 0 bytes at an address past the end of
//! memory still traps (out of bounds), at or below the end it does nothing; a growth of 0,
//! or past 4 GiB, returns what the instruction would. Every peer compiles the same rewritten module, so
//! fuel stays deterministic (the rewrite is covered by [`crate::engine::FUEL_PRICES_VERSION`]);
//! the code hash is still the hash of the module as deployed.

use std::borrow::Cow;

use wasm_encoder::reencode::{Error as ReencodeError, Reencode, utils};
use wasm_encoder::{BlockType, CodeSection, Function, FunctionSection, Instruction, ValType};
use wasmparser::{Operator, Parser, Payload, RefType, TypeRef};

/// Pages of the largest 32-bit linear memory (4 GiB): a growth past it fails without
/// reaching the resource limiter.
const MAX_PAGES: i32 = 65536;

/// `wasm` with every `memory.fill`, `memory.grow` and `table.grow` replaced by a call to its
/// added guard function, or `wasm` itself if it has none. Errors are parse errors of a
/// module that passed validation (so in practice none).
pub(crate) fn guard(wasm: &[u8]) -> Result<Cow<'_, [u8]>, String> {
    let uses = scan(wasm).map_err(|e| e.to_string())?;
    if !uses.fill && !uses.memory_grow && uses.table_grow.is_none() {
        return Ok(Cow::Borrowed(wasm));
    }
    let mut guards = Guards { uses, first_type: 0, first_func: 0 };
    let mut module = wasm_encoder::Module::new();
    guards
        .parse_core_module(&mut module, Parser::new(0), wasm)
        .map_err(|e: ReencodeError<std::convert::Infallible>| e.to_string())?;
    Ok(Cow::Owned(module.finish()))
}

/// What a module uses of the guarded instructions.
#[derive(Debug, Default)]
struct Uses {
    /// Imported functions (the added functions' indices come after every other function).
    func_imports: u32,
    fill: bool,
    memory_grow: bool,
    /// The element type of table 0 if the module grows it (a module has at most one table,
    /// defined in the module: `crate::validate` refuses imported tables).
    table_grow: Option<RefType>,
}

impl Uses {
    /// The guards to add, in order (their types and functions are appended in this order).
    fn guards(&self) -> impl Iterator<Item = Guard> {
        [
            self.fill.then_some(Guard::Fill),
            self.memory_grow.then_some(Guard::MemoryGrow),
            self.table_grow.map(Guard::TableGrow),
        ]
        .into_iter()
        .flatten()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Guard {
    Fill,
    MemoryGrow,
    TableGrow(RefType),
}

fn scan(wasm: &[u8]) -> wasmparser::Result<Uses> {
    let mut uses = Uses::default();
    let mut table_types = Vec::new();
    let mut grows_table = false;
    for payload in Parser::new(0).parse_all(wasm) {
        match payload? {
            Payload::ImportSection(imports) => {
                for import in imports.into_imports() {
                    if matches!(import?.ty, TypeRef::Func(_) | TypeRef::FuncExact(_)) {
                        uses.func_imports += 1;
                    }
                }
            }
            Payload::TableSection(tables) => {
                for table in tables {
                    table_types.push(table?.ty.element_type);
                }
            }
            Payload::CodeSectionEntry(body) => {
                let mut ops = body.get_operators_reader()?;
                while !ops.eof() {
                    match ops.read()? {
                        Operator::MemoryFill { mem: 0 } => uses.fill = true,
                        Operator::MemoryGrow { mem: 0 } => uses.memory_grow = true,
                        Operator::TableGrow { table: 0 } => grows_table = true,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    if grows_table {
        uses.table_grow = table_types.first().copied();
    }
    Ok(uses)
}

/// Re-encodes a module unchanged but for the guarded instructions, appending the guard
/// functions (their types last in the type section, themselves last among the functions, so
/// no index moves).
struct Guards {
    uses: Uses,
    first_type: u32,
    first_func: u32,
}

impl Guards {
    /// The index of `guard` among the added types or functions.
    fn position(&self, guard: Guard) -> u32 {
        self.uses.guards().position(|g| g == guard).expect("only used guards are called") as u32
    }
}

impl Reencode for Guards {
    type Error = std::convert::Infallible;

    fn parse_type_section(
        &mut self,
        types: &mut wasm_encoder::TypeSection,
        section: wasmparser::TypeSectionReader<'_>,
    ) -> Result<(), ReencodeError<Self::Error>> {
        utils::parse_type_section(self, types, section)?;
        self.first_type = types.len();
        for guard in self.uses.guards().collect::<Vec<_>>() {
            match guard {
                Guard::Fill => types.ty().function([ValType::I32, ValType::I32, ValType::I32], []),
                Guard::MemoryGrow => types.ty().function([ValType::I32], [ValType::I32]),
                Guard::TableGrow(element) => {
                    let element = ValType::Ref(self.ref_type(element)?);
                    types.ty().function([element, ValType::I32], [ValType::I32])
                }
            }
        }
        Ok(())
    }

    fn parse_function_section(
        &mut self,
        functions: &mut FunctionSection,
        section: wasmparser::FunctionSectionReader<'_>,
    ) -> Result<(), ReencodeError<Self::Error>> {
        utils::parse_function_section(self, functions, section)?;
        self.first_func = self.uses.func_imports + functions.len();
        for (i, _) in self.uses.guards().enumerate() {
            functions.function(self.first_type + i as u32);
        }
        Ok(())
    }

    fn parse_code_section(
        &mut self,
        code: &mut CodeSection,
        section: wasmparser::CodeSectionReader<'_>,
    ) -> Result<(), ReencodeError<Self::Error>> {
        utils::parse_code_section(self, code, section)?;
        for guard in self.uses.guards() {
            let mut body = Function::new([]);
            let mut ins = body.instructions();
            match guard {
                // (func (param $dst i32) (param $val i32) (param $len i32)
                //   (if (i32.or (local.get $len)
                //               (i32.gt_u (local.get $dst) (i32.shl (memory.size) (i32.const 16))))
                //     (then (memory.copy (local.get $dst) (local.get $dst)
                //                        (i32.shr_u (local.get $len) (i32.const 1)))
                //           (memory.fill (local.get $dst) (local.get $val) (local.get $len)))))
                Guard::Fill => ins
                    .local_get(2)
                    .local_get(0)
                    .memory_size(0)
                    .i32_const(16)
                    .i32_shl()
                    .i32_gt_u()
                    .i32_or()
                    .if_(BlockType::Empty)
                    .local_get(0)
                    .local_get(0)
                    .local_get(2)
                    .i32_const(1)
                    .i32_shr_u()
                    .memory_copy(0, 0)
                    .local_get(0)
                    .local_get(1)
                    .local_get(2)
                    .memory_fill(0)
                    .end(),
                // (func (param $pages i32) (result i32)
                //   (if (result i32) (i32.gt_u (local.get $pages)
                //                              (i32.sub (i32.const 65536) (memory.size)))
                //     (then (i32.const -1))
                //     (else (if (result i32) (local.get $pages)
                //       (then (memory.grow (local.get $pages))) (else (memory.size))))))
                Guard::MemoryGrow => ins
                    .local_get(0)
                    .i32_const(MAX_PAGES)
                    .memory_size(0)
                    .i32_sub()
                    .i32_gt_u()
                    .if_(BlockType::Result(ValType::I32))
                    .i32_const(-1)
                    .else_()
                    .local_get(0)
                    .if_(BlockType::Result(ValType::I32))
                    .local_get(0)
                    .memory_grow(0)
                    .else_()
                    .memory_size(0)
                    .end()
                    .end(),
                // (func (param $init ref) (param $n i32) (result i32)
                //   (if (result i32) (local.get $n)
                //     (then (table.grow 0 (local.get $init) (local.get $n))) (else (table.size 0))))
                Guard::TableGrow(_) => ins
                    .local_get(1)
                    .if_(BlockType::Result(ValType::I32))
                    .local_get(0)
                    .local_get(1)
                    .table_grow(0)
                    .else_()
                    .table_size(0)
                    .end(),
            };
            ins.end();
            code.function(&body);
        }
        Ok(())
    }

    fn instruction<'a>(
        &mut self,
        op: Operator<'a>,
    ) -> Result<Instruction<'a>, ReencodeError<Self::Error>> {
        let guard = match op {
            Operator::MemoryFill { mem: 0 } => Guard::Fill,
            Operator::MemoryGrow { mem: 0 } => Guard::MemoryGrow,
            Operator::TableGrow { table: 0 } => {
                Guard::TableGrow(self.uses.table_grow.expect("scanned"))
            }
            op => return utils::instruction(self, op),
        };
        Ok(Instruction::Call(self.first_func + self.position(guard)))
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
    fn modules_without_guarded_instructions_are_left_alone() {
        let wasm = module("(memory.copy (local.get 0) (local.get 1) (local.get 2))");
        assert!(matches!(guard(&wasm).unwrap(), Cow::Borrowed(_)));
    }

    /// How many times `op` occurs as an instruction in the module's function bodies.
    fn count(wasm: &[u8], op: fn(&Operator<'_>) -> bool) -> usize {
        let mut n = 0;
        for payload in Parser::new(0).parse_all(wasm) {
            if let Payload::CodeSectionEntry(body) = payload.unwrap() {
                let mut ops = body.get_operators_reader().unwrap();
                while !ops.eof() {
                    n += usize::from(op(&ops.read().unwrap()));
                }
            }
        }
        n
    }

    #[test]
    fn guarded_instructions_call_their_guard_and_the_result_validates() {
        let wasm = wat::parse_str(
            r#"(module (memory 1) (table 1 funcref)
                 (func $f (export "f") (param i32 i32 i32)
                   (memory.fill (local.get 0) (local.get 1) (local.get 2))
                   (memory.fill (local.get 1) (local.get 1) (local.get 1))
                   (drop (memory.grow (local.get 0)))
                   (drop (table.grow (ref.null func) (local.get 2)))))"#,
        )
        .unwrap();
        let guarded = guard(&wasm).unwrap();
        wasmparser::Validator::new().validate_all(&guarded).unwrap();
        // Each guarded instruction is left only inside its own guard.
        assert_eq!(count(&guarded, |op| matches!(op, Operator::MemoryFill { .. })), 1);
        assert_eq!(count(&guarded, |op| matches!(op, Operator::MemoryGrow { .. })), 1);
        assert_eq!(count(&guarded, |op| matches!(op, Operator::TableGrow { .. })), 1);
        assert_eq!(count(&guarded, |op| matches!(op, Operator::Call { .. })), 4);
    }
}
