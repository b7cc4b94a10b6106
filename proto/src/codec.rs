//! The codec of the generated gRPC clients and servers: prost's, except that a message that
//! does not decode is `INVALID_ARGUMENT` naming the message type and what was wrong (tonic's
//! default codec answers `INTERNAL` "failed to decode Protobuf message", which says the
//! node failed when the client sent bad bytes). `build.rs` points tonic-prost-build at
//! [`WeftCodec`], so every RPC of every service decodes its request here.
//!
//! The generated clients use it too: there a response that does not decode is reported the
//! same way, naming the response type.

use std::marker::PhantomData;

use tonic::Status;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic_prost::{ProstCodec, ProstEncoder};

/// Encodes `T` and decodes `U` with prost; decoding failures are `INVALID_ARGUMENT`.
#[derive(Debug, Clone)]
pub struct WeftCodec<T, U> {
    _pd: PhantomData<(T, U)>,
}

impl<T, U> Default for WeftCodec<T, U> {
    fn default() -> Self {
        WeftCodec { _pd: PhantomData }
    }
}

impl<T, U> Codec for WeftCodec<T, U>
where
    T: prost::Message + Send + 'static,
    U: prost::Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = WeftDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstCodec::<T, U>::raw_encoder(BufferSettings::default())
    }

    fn decoder(&mut self) -> Self::Decoder {
        WeftDecoder { _pd: PhantomData }
    }
}

/// Decodes `U`; see [`WeftCodec`].
#[derive(Debug, Clone)]
pub struct WeftDecoder<U> {
    _pd: PhantomData<U>,
}

impl<U: prost::Message + Default> Decoder for WeftDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        U::decode(buf).map(Some).map_err(|error| undecodable::<U>(&error))
    }
}

/// The status of a `U` that does not decode: `INVALID_ARGUMENT` "the message does not decode
/// as weft.v1.U: (prost's reason, naming the field)".
pub fn undecodable<U>(error: &prost::DecodeError) -> Status {
    let path = std::any::type_name::<U>();
    let name = path.rsplit("::").next().unwrap_or(path);
    Status::invalid_argument(format!("the message does not decode as weft.v1.{name}: {error}"))
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    #[test]
    fn an_undecodable_message_is_an_invalid_argument_naming_its_type() {
        let error = crate::v1::EndorseRequest::decode([0xff_u8, 0xff, 0xff].as_slice())
            .expect_err("not a message");
        let status = undecodable::<crate::v1::EndorseRequest>(&error);
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(
            status.message().starts_with("the message does not decode as weft.v1.EndorseRequest: "),
            "{}",
            status.message()
        );
    }
}
