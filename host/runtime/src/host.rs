//! THE table of host functions: one place registers every entry of
//! [`weft_abi::HOST_FUNCTIONS`] on the [`Linker`]. Each entry only moves values between the
//! engine and the plain logic in `invocation.rs` (which checks every pointer and length and
//! charges fuel up front); a stop requested by the logic becomes a trap whose reason is kept in
//! the invocation state, so no engine text ever reaches a result.

use wasmtime::{Caller, Engine, Linker, Memory};

use crate::invocation::{HostResult, HostStop, InvocationState};
use weft_abi::{IMPORT_MODULE, import};

/// Store data: the invocation plus the instance's memory, known once instantiated.
pub(crate) struct StoreData {
    pub(crate) inv: InvocationState,
    pub(crate) memory: Option<Memory>,
}

/// The text of the trap a host stop raises. Never shown: the stop's own reason is used.
pub(crate) const HOST_STOP: &str = "weft host stop";

fn stop<R>(caller: &mut Caller<'_, StoreData>, reason: HostStop) -> wasmtime::Result<R> {
    caller.data_mut().inv.stop = Some(reason);
    Err(wasmtime::Error::msg(HOST_STOP))
}

/// Runs `f` with the guest memory and the invocation, mirroring the fuel in and out.
fn call<R>(
    caller: &mut Caller<'_, StoreData>,
    f: impl FnOnce(&mut [u8], &mut InvocationState) -> HostResult<R>,
) -> wasmtime::Result<R> {
    let fuel = caller.get_fuel()?;
    let Some(memory) = caller.data().memory else {
        let reason = HostStop::Contract(
            crate::FailureKind::AbiMisuse,
            "host call before the memory is available".into(),
        );
        return stop(caller, reason);
    };
    let (mem, data) = memory.data_and_store_mut(&mut *caller);
    data.inv.meter.fuel = fuel;
    let result = f(mem, &mut data.inv);
    let left = data.inv.meter.fuel;
    caller.set_fuel(left)?;
    match result {
        Ok(value) => Ok(value),
        Err(reason) => stop(caller, reason),
    }
}

type C<'a> = Caller<'a, StoreData>;

/// Builds the linker with every host function of [`weft_abi::HOST_FUNCTIONS`] and nothing
/// else. A test checks that the two lists match name for name and type for type.
pub(crate) fn linker(engine: &Engine) -> wasmtime::Result<Linker<StoreData>> {
    let mut l = Linker::new(engine);
    let m = IMPORT_MODULE;
    l.func_wrap(m, import::TAKE_RESULT, |mut c: C<'_>, p: i32, n: i32| {
        call(&mut c, |mem, inv| inv.take_result(mem, p, n))
    })?;
    l.func_wrap(m, import::TX_FIELD, |mut c: C<'_>, field: i32| {
        call(&mut c, |_, inv| inv.tx_field(field))
    })?;
    l.func_wrap(m, import::STATE_GET, |mut c: C<'_>, p: i32, n: i32| {
        call(&mut c, |mem, inv| inv.state_get(mem, p, n))
    })?;
    l.func_wrap(m, import::STATE_PUT, |mut c: C<'_>, kp: i32, kn: i32, vp: i32, vn: i32| {
        call(&mut c, |mem, inv| inv.state_put(mem, (kp, kn), (vp, vn)))
    })?;
    l.func_wrap(m, import::STATE_DEL, |mut c: C<'_>, p: i32, n: i32| {
        call(&mut c, |mem, inv| inv.state_del(mem, p, n))
    })?;
    l.func_wrap(m, import::RANGE_OPEN, |mut c: C<'_>, sp: i32, sn: i32, ep: i32, en: i32| {
        call(&mut c, |mem, inv| inv.range_open(mem, (sp, sn), (ep, en)))
    })?;
    l.func_wrap(m, import::RANGE_NEXT, |mut c: C<'_>, it: i32| {
        call(&mut c, |_, inv| inv.range_next(it))
    })?;
    l.func_wrap(m, import::RANGE_CLOSE, |mut c: C<'_>, it: i32| {
        call(&mut c, |_, inv| inv.range_close(it))
    })?;
    l.func_wrap(m, import::HISTORY_OPEN, |mut c: C<'_>, p: i32, n: i32| {
        call(&mut c, |mem, inv| inv.history_open(mem, p, n))
    })?;
    l.func_wrap(m, import::HISTORY_NEXT, |mut c: C<'_>, it: i32| {
        call(&mut c, |_, inv| inv.history_next(it))
    })?;
    l.func_wrap(m, import::EMIT_EVENT, |mut c: C<'_>, np: i32, nn: i32, pp: i32, pn: i32| {
        call(&mut c, |mem, inv| inv.emit_event(mem, (np, nn), (pp, pn)))
    })?;
    l.func_wrap(
        m,
        import::SET_RESPONSE,
        |mut c: C<'_>, status: i32, mp: i32, mn: i32, pp: i32, pn: i32| {
            call(&mut c, |mem, inv| inv.set_response(mem, status, (mp, mn), (pp, pn)))
        },
    )?;
    l.func_wrap(m, import::LOG, |mut c: C<'_>, level: i32, p: i32, n: i32| {
        call(&mut c, |mem, inv| inv.log(mem, level, p, n))
    })?;
    l.func_wrap(m, import::ABORT, |mut c: C<'_>, p: i32, n: i32| {
        call(&mut c, |mem, inv| -> HostResult<()> { Err(inv.abort(mem, p, n)) })
    })?;
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn abi(t: weft_abi::ValType) -> wasmtime::ValType {
        match t {
            weft_abi::ValType::I32 => wasmtime::ValType::I32,
            weft_abi::ValType::I64 => wasmtime::ValType::I64,
        }
    }

    #[test]
    fn the_table_matches_the_abi_exactly() {
        let engine = Engine::new(&crate::engine::build_config(&Default::default())).unwrap();
        let l = linker(&engine).unwrap();
        let mut store = wasmtime::Store::new(&engine, unused_data());
        let externs: Vec<(String, String, wasmtime::Extern)> = l
            .iter(&mut store)
            .map(|(module, name, ext)| (module.to_owned(), name.to_owned(), ext))
            .collect();
        let defined: Vec<(String, wasmtime::FuncType)> = externs
            .into_iter()
            .map(|(module, name, ext)| {
                assert_eq!(module, IMPORT_MODULE);
                (name, ext.ty(&store).unwrap_func().clone())
            })
            .collect();
        assert_eq!(defined.len(), weft_abi::HOST_FUNCTIONS.len());
        for f in weft_abi::HOST_FUNCTIONS {
            let (_, ty) = defined.iter().find(|(n, _)| n == f.name).expect(f.name);
            let params: Vec<_> = ty.params().map(|p| p.to_string()).collect();
            let results: Vec<_> = ty.results().map(|p| p.to_string()).collect();
            let want_p: Vec<_> = f.params.iter().map(|t| abi(*t).to_string()).collect();
            let want_r: Vec<_> = f.results.iter().map(|t| abi(*t).to_string()).collect();
            assert_eq!((params, results), (want_p, want_r), "{}", f.name);
        }
    }

    fn unused_data() -> StoreData {
        use std::sync::Arc;
        StoreData {
            inv: InvocationState::new(
                Arc::new(weft_rwset::Invocation::default()),
                Arc::new(weft_rwset::MemoryState::default()),
                None,
                weft_rwset::Mode::Query,
                crate::engine::HOST_FUEL,
            ),
            memory: None,
        }
    }
}
