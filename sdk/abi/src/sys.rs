//! Raw imports as the guest sees them (wasm32 only). Contract authors never use these: the SDK
//! wraps each one. Their signatures must match [`crate::HOST_FUNCTIONS`]; the runtime's
//! deploy-time validation of every sample contract checks that they do.
#![allow(missing_docs)]

#[link(wasm_import_module = "weft_v1")]
unsafe extern "C" {
    pub fn take_result(ptr: u32, len: u32) -> i32;
    pub fn tx_field(field: i32) -> i64;
    pub fn state_get(key_ptr: u32, key_len: u32) -> i64;
    pub fn state_put(key_ptr: u32, key_len: u32, value_ptr: u32, value_len: u32) -> i32;
    pub fn state_del(key_ptr: u32, key_len: u32) -> i32;
    pub fn range_open(start_ptr: u32, start_len: u32, end_ptr: u32, end_len: u32) -> i64;
    pub fn range_next(iterator: u32) -> i64;
    pub fn range_close(iterator: u32) -> i32;
    pub fn history_open(key_ptr: u32, key_len: u32) -> i64;
    pub fn history_next(iterator: u32) -> i64;
    pub fn emit_event(name_ptr: u32, name_len: u32, payload_ptr: u32, payload_len: u32) -> i32;
    pub fn set_response(
        status: i32,
        msg_ptr: u32,
        msg_len: u32,
        payload_ptr: u32,
        payload_len: u32,
    ) -> i32;
    pub fn log(level: i32, ptr: u32, len: u32) -> i32;
    pub fn abort(msg_ptr: u32, msg_len: u32);
}
