//! The static compile-cost measure: what compiling a function body will cost, counted from
//! its operators before anything is compiled, so every peer accepts or refuses the same
//! modules (a compile budget measured in wall time would depend on the machine and its load).
//!
//! Measured (`docs/performance.md`), Cranelift's work is dominated by control flow: a branch
//! edge costs about as much as ten ordinary operators, and more as a body holds more of them
//! (per edge, a body of 900 edges compiles 1.6 times slower than one of 300), while nesting
//! depth and the number of locals barely matter. Edges are counted where the compiled code
//! has them: one per `br` and `br_if`, one per `br_table` target and its default, two per
//! `if` (its arms), two per `loop` (its header checks fuel and the epoch, each a branch to a
//! slow path) and two per `call_indirect` (it checks, and lazily initializes, its table
//! entry). A module's cost in units is
//!
//! ```text
//! operators + EDGE_UNITS * edges
//! ```
//!
//! and `crate::ValidationLimits` caps it, with the edges of one body (so the superlinear part
//! stays small) and the nesting depth, at about twice what the sample contracts need. Within
//! those caps the costliest module the measure admits (all edges, spread at the per-body cap)
//! compiles in about twice the time of the largest sample.

use wasmparser::{BinaryReaderError, FunctionBody, Operator};

/// Units per branch edge; an operator is one unit.
pub const EDGE_UNITS: u64 = 10;

/// What [`measure`] counts in one function body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BodyCost {
    /// Operators, including `end`s.
    pub operators: u64,
    /// Branch edges: one per `br` and `br_if`, one per `br_table` target and its default, two
    /// per `if`, `loop` and `call_indirect`.
    pub edges: u64,
    /// Deepest nesting of `block`, `loop` and `if`.
    pub max_depth: u32,
    /// Most targets of one `br_table` (its default excluded).
    pub max_br_table_targets: u32,
}

impl BodyCost {
    /// The body's compile cost in units: `operators + EDGE_UNITS * edges`.
    pub fn units(&self) -> u64 {
        self.operators.saturating_add(self.edges.saturating_mul(EDGE_UNITS))
    }
}

/// Counts `body`. Its structure has already been validated.
pub fn measure(body: &FunctionBody<'_>) -> Result<BodyCost, BinaryReaderError> {
    let mut cost = BodyCost::default();
    let mut depth = 0u32;
    let mut ops = body.get_operators_reader()?;
    while !ops.eof() {
        cost.operators += 1;
        match ops.read()? {
            Operator::Block { .. } => depth += 1,
            // A loop header holds the fuel and epoch checks, each a branch to a slow path.
            Operator::Loop { .. } => {
                depth += 1;
                cost.edges += 2;
            }
            // An indirect call checks (and lazily initializes) its table entry.
            Operator::CallIndirect { .. } => cost.edges += 2,
            Operator::If { .. } => {
                depth += 1;
                cost.edges += 2;
            }
            Operator::End => depth = depth.saturating_sub(1),
            Operator::Br { .. } | Operator::BrIf { .. } => cost.edges += 1,
            Operator::BrTable { targets } => {
                cost.edges += u64::from(targets.len()) + 1;
                cost.max_br_table_targets = cost.max_br_table_targets.max(targets.len());
            }
            _ => {}
        }
        cost.max_depth = cost.max_depth.max(depth);
    }
    Ok(cost)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmparser::{Parser, Payload};

    fn bodies(wat: &str) -> Vec<BodyCost> {
        let wasm = wat::parse_str(wat).unwrap();
        Parser::new(0)
            .parse_all(&wasm)
            .filter_map(|p| match p.unwrap() {
                Payload::CodeSectionEntry(body) => Some(measure(&body).unwrap()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn edges_are_counted_where_compiled_code_branches() {
        let cost = bodies(
            r#"(module (type $t (func)) (table 1 funcref)
                (func (param i32)
                  (block (block (loop
                    (br_if 0 (local.get 0))
                    (br_table 0 1 2 (local.get 0)))))
                  (if (local.get 0) (then (call_indirect (type $t) (i32.const 0))))
                  (br 0)))"#,
        );
        // loop 2, br_if 1, br_table 2 + its default, if 2, call_indirect 2, br 1.
        assert_eq!(cost[0].edges, 11);
        assert_eq!((cost[0].max_depth, cost[0].max_br_table_targets), (3, 2));
        assert_eq!(cost[0].units(), cost[0].operators + 11 * EDGE_UNITS);
    }

    #[test]
    fn straight_line_code_costs_its_operators() {
        let cost = bodies("(module (func (result i32) i32.const 1 i32.const 2 i32.add))");
        assert_eq!((cost[0].operators, cost[0].edges, cost[0].max_depth), (4, 0, 0));
        assert_eq!(cost[0].units(), 4);
    }
}
