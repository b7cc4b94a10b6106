#!/usr/bin/env python3
"""A Weft client in Python, written from docs/protocol.md and the protos alone.

    python weft_client.py demo --endpoint 127.0.0.1:7051 --key .weft/keys/Org1/client.key
    python weft_client.py vectors ../../docs/protocol.md

`demo` evaluates, endorses, submits, waits for the commit status and reads the contract's
events, printing each step. `vectors` recomputes the test vectors of docs/protocol.md.
The gRPC stubs are generated from proto/ at start (grpcio-tools), into a temporary directory.
"""

import argparse
import atexit
import os
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

import blake3
import grpc
import nacl.signing
from grpc_tools import protoc

HERE = Path(__file__).resolve().parent
DEFAULT_PROTO_DIR = HERE.parent.parent / "proto"
PROTO_FILES = ["contract", "rwset", "ledger", "gateway", "admin", "query"]


def load_protos(proto_dir):
    """Generates the Python modules of proto/weft/v1/*.proto and imports them."""
    out = tempfile.mkdtemp(prefix="weft-py-")
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    grpc_include = Path(protoc.__file__).parent / "_proto"
    files = [str(Path(proto_dir) / "weft" / "v1" / f"{name}.proto") for name in PROTO_FILES]
    code = protoc.main(
        ["grpc_tools.protoc", f"-I{proto_dir}", f"-I{grpc_include}",
         f"--python_out={out}", f"--grpc_python_out={out}", *files]
    )
    if code != 0:
        sys.exit(f"error: protoc failed on {proto_dir} (exit {code})")
    sys.path.insert(0, out)
    from weft.v1 import admin_pb2, admin_pb2_grpc, contract_pb2, gateway_pb2
    from weft.v1 import gateway_pb2_grpc, ledger_pb2, query_pb2, query_pb2_grpc, rwset_pb2
    return argparse.Namespace(
        admin=admin_pb2, admin_grpc=admin_pb2_grpc, contract=contract_pb2,
        gateway=gateway_pb2, gateway_grpc=gateway_pb2_grpc, ledger=ledger_pb2, rwset=rwset_pb2,
        query=query_pb2, query_grpc=query_pb2_grpc,
    )


def tx_id_of(nonce, creator):
    """Lowercase hex of BLAKE3(nonce || encoded creator Identity)."""
    return blake3.blake3(nonce + creator.SerializeToString()).hexdigest()


def install_message(wasm):
    return b"weft install v1" + blake3.blake3(wasm).digest()


def endorsement_message(response_payload, endorser):
    return response_payload + endorser.SerializeToString()


class Signer:
    """An Ed25519 key (the 32-byte seed) and the Identity it signs as."""

    def __init__(self, pb, msp_id, seed):
        self.key = nacl.signing.SigningKey(seed)
        self.identity = pb.ledger.Identity(
            msp_id=msp_id, public_key=bytes(self.key.verify_key))

    @classmethod
    def from_key_file(cls, pb, msp_id, path):
        text = Path(path).read_text().strip()
        try:
            seed = bytes.fromhex(text)
        except ValueError:
            seed = b""
        if len(seed) != 32:
            sys.exit(f"error: key file {path} does not hold 64 hex digits")
        return cls(pb, msp_id, seed)

    def sign(self, message):
        return self.key.sign(message).signature


class Client:
    """Signs proposals and transactions as `signer` and calls one node."""

    def __init__(self, pb, endpoint, signer, ca=None):
        self.pb = pb
        self.signer = signer
        target = endpoint.split("://", 1)[-1]
        if ca is not None:
            creds = grpc.ssl_channel_credentials(root_certificates=Path(ca).read_bytes())
            self.grpc_channel = grpc.secure_channel(
                target, creds, options=[("grpc.ssl_target_name_override", "localhost")])
        else:
            self.grpc_channel = grpc.insecure_channel(target)
        self.gateway = pb.gateway_grpc.GatewayStub(self.grpc_channel)
        self.admin = pb.admin_grpc.AdminStub(self.grpc_channel)
        self.ledger = pb.query_grpc.LedgerQueryStub(self.grpc_channel)
        health = self.admin.Health(pb.admin.HealthRequest(), timeout=10)
        self.channel, self.height = health.channel, health.height

    def proposal(self, contract, function, args, is_init=False):
        """A SignedProposal with a fresh nonce; returns it and its tx id."""
        pb = self.pb
        nonce = secrets.token_bytes(24)
        now = time.time_ns()
        proposal = pb.ledger.Proposal(
            channel=self.channel, contract=contract, function=function,
            args=[a if isinstance(a, bytes) else a.encode() for a in args],
            nonce=nonce, creator=self.signer.identity,
            timestamp=pb.ledger.Timestamp(seconds=now // 10**9, nanos=now % 10**9),
            tx_id=tx_id_of(nonce, self.signer.identity), is_init=is_init,
        )
        data = proposal.SerializeToString()
        signed = pb.ledger.SignedProposal(proposal=data, signature=self.signer.sign(data))
        return signed, proposal.tx_id

    def evaluate(self, contract, function, args):
        signed, _ = self.proposal(contract, function, args)
        request = self.pb.gateway.EvaluateRequest(proposal=signed)
        return self.gateway.Evaluate(request, timeout=30).result

    def endorse(self, contract, function, args):
        signed, tx_id = self.proposal(contract, function, args)
        request = self.pb.gateway.EndorseRequest(proposal=signed)
        endorsed = self.gateway.Endorse(request, timeout=30)
        if endorsed.tx_id != tx_id:
            raise RuntimeError(f"endorsed {endorsed.tx_id}, proposed {tx_id}")
        return signed, endorsed

    def submit(self, prepared_transaction):
        envelope = self.pb.ledger.Envelope(
            payload=prepared_transaction, signature=self.signer.sign(prepared_transaction))
        request = self.pb.gateway.SubmitRequest(envelope=envelope)
        return self.gateway.Submit(request, timeout=30).tx_id

    def commit_status(self, tx_id, timeout=60):
        request = self.pb.gateway.CommitStatusRequest(tx_id=tx_id)
        return self.gateway.CommitStatus(request, timeout=timeout)

    def events(self, contract, start_block, timeout=30):
        """The stream of `contract`'s events from `start_block` on."""
        request = self.pb.gateway.ChaincodeEventsRequest(
            contract=contract, start_block=start_block)
        return self.gateway.ChaincodeEvents(request, timeout=timeout)


def decode_prepared(pb, prepared_transaction):
    """prepared_transaction -> Transaction -> response_payload -> ProposalResponsePayload."""
    tx = pb.ledger.Transaction.FromString(prepared_transaction)
    payload = pb.ledger.ProposalResponsePayload.FromString(tx.response_payload)
    return tx, payload


def text(data):
    try:
        return data.decode()
    except UnicodeDecodeError:
        return data.hex()


def code_name(pb, code):
    return pb.ledger.TxValidationCode.Name(code)


def demo(pb, args):
    signer = Signer.from_key_file(pb, args.msp_id, args.key)
    client = Client(pb, args.endpoint, signer, ca=args.ca)
    contract, key, value = args.contract, args.key_name, args.value
    print(f"channel: {client.channel} height {client.height}")

    # A query of a key that is not there: the contract fails, which is a gRPC error.
    missing = f"{key}-missing-{secrets.token_hex(4)}"
    try:
        client.evaluate(contract, "Get", [missing])
        print(f"evaluate Get {missing}: unexpectedly found")
    except grpc.RpcError as error:
        print(f"evaluate Get {missing}: {error.code().name}: {error.details()}")

    # Endorse, and read what the transaction will write and emit.
    signed, endorsed = client.endorse(contract, "Put", [key, value])
    tx, payload = decode_prepared(pb, endorsed.prepared_transaction)
    print(f"endorse Put {key} {value}: tx {endorsed.tx_id} status {endorsed.result.status}")
    if payload.proposal_hash != blake3.blake3(signed.proposal).digest():
        raise RuntimeError("the payload's proposal hash is not BLAKE3 of our proposal")
    for ns in payload.rwset.ns_rwset:
        for write in ns.writes:
            what = "delete" if write.is_delete else f"= {text(write.value)}"
            print(f"  rwset {ns.namespace}: write {text(write.key)} {what}")
        for read in ns.reads:
            version = (f"{read.version.block_num}:{read.version.tx_num}"
                       if read.HasField("version") else "absent")
            print(f"  rwset {ns.namespace}: read {text(read.key)} at {version}")
    for event in payload.events:
        print(f"  pending event {event.name} {text(event.payload)}")
    for endorsement in tx.endorsements:
        message = endorsement_message(tx.response_payload, endorsement.endorser)
        nacl.signing.VerifyKey(endorsement.endorser.public_key).verify(
            message, endorsement.signature)
        print(f"  endorsed by {endorsement.endorser.msp_id} "
              f"{endorsement.endorser.public_key.hex()[:16]}: signature verifies")

    # Sign the prepared transaction, submit it, wait for its commit.
    tx_id = client.submit(endorsed.prepared_transaction)
    print(f"submit: {tx_id}")
    status = client.commit_status(tx_id)
    print(f"commit: {code_name(pb, status.code)} block {status.block_number} "
          f"hash {status.block_hash.hex()}")
    for conflict in status.conflicts:
        print(f"  conflict on {conflict.namespace} {text(conflict.key)}")

    # The events of that block: the stream starts at the committed block.
    stream = client.events(contract, status.block_number)
    try:
        for response in stream:
            mine = [e for e in response.events if e.tx_id == tx_id]
            for event in mine:
                print(f"event: block {response.block_number} tx {event.tx_id} "
                      f"{event.name} {text(event.payload)}")
            if mine:
                break
    finally:
        stream.cancel()

    result = client.evaluate(contract, "Get", [key])
    print(f"evaluate Get {key}: status {result.status} payload {text(result.payload)}")
    return 0 if status.code == pb.ledger.VALID else 1


def doc_vectors(path):
    """The `name = value` lines of the fenced blocks under "## Test vectors"."""
    section = Path(path).read_text().split("\n## Test vectors", 1)[1].split("\n## ", 1)[0]
    values, in_block = {}, False
    for line in section.splitlines():
        if line.startswith("```"):
            in_block = not in_block
        elif in_block and " = " in line:
            name, value = (part.strip() for part in line.split(" = ", 1))
            values[name] = value[1:-1] if value.startswith('"') else value
    return values


def vectors(pb, args):
    v = doc_vectors(args.doc)
    client = Signer(pb, v["msp_id"], bytes.fromhex(v["client_secret"]))
    peer = Signer(pb, v["msp_id"], bytes.fromhex(v["peer_secret"]))
    nonce = bytes.fromhex(v["nonce"])
    proposal = pb.ledger.Proposal(
        channel=v["channel"], contract=v["contract"], function=v["function"],
        args=[v["arg0"].encode(), v["arg1"].encode()], nonce=nonce, creator=client.identity,
        timestamp=pb.ledger.Timestamp(
            seconds=int(v["timestamp_seconds"]), nanos=int(v["timestamp_nanos"])),
        tx_id=tx_id_of(nonce, client.identity),
    ).SerializeToString()
    payload = pb.ledger.ProposalResponsePayload(
        proposal_hash=blake3.blake3(proposal).digest(),
        response=pb.contract.Response(status=int(v["response_status"])),
        rwset=pb.rwset.TxReadWriteSet(ns_rwset=[pb.rwset.NsReadWriteSet(
            namespace=v["contract"],
            writes=[pb.rwset.KvWrite(key=v["arg0"].encode(), value=v["arg1"].encode())])]),
        events=[pb.contract.ContractEvent(
            contract=v["contract"], tx_id=tx_id_of(nonce, client.identity),
            name=v["function"], payload=v["arg0"].encode())],
        contract_version=v["contract_version"],
    ).SerializeToString()
    endorsement = pb.ledger.Endorsement(
        endorser=peer.identity, signature=peer.sign(endorsement_message(payload, peer.identity)))
    transaction = pb.ledger.Transaction(
        proposal=proposal, response_payload=payload, endorsements=[endorsement],
    ).SerializeToString()
    install = install_message(bytes.fromhex(v["wasm"]))
    computed = {
        "client_public_key": client.identity.public_key.hex(),
        "peer_public_key": peer.identity.public_key.hex(),
        "client_identity": client.identity.SerializeToString().hex(),
        "peer_identity": peer.identity.SerializeToString().hex(),
        "tx_id": tx_id_of(nonce, client.identity),
        "proposal": proposal.hex(),
        "proposal_signature": client.sign(proposal).hex(),
        "proposal_hash": blake3.blake3(proposal).hexdigest(),
        "response_payload": payload.hex(),
        "endorsement_message": endorsement_message(payload, peer.identity).hex(),
        "endorsement_signature": endorsement.signature.hex(),
        "transaction": transaction.hex(),
        "envelope_signature": client.sign(transaction).hex(),
        "install_message": install.hex(),
        "install_signature": client.sign(install).hex(),
    }
    wrong = [name for name, value in computed.items() if v.get(name) != value]
    for name in wrong:
        print(f"vector {name}: the document has {v.get(name)}, Python computes {computed[name]}")
    print(f"vectors: {len(computed) - len(wrong)} of {len(computed)} match")
    return 1 if wrong else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proto-dir", default=os.environ.get("WEFT_PROTO_DIR", DEFAULT_PROTO_DIR),
                        help="the directory holding weft/v1/*.proto (default: the repository's)")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("demo", help="evaluate, endorse, submit, commit status, events")
    run.add_argument("--endpoint", default="127.0.0.1:7051", help="host:port of the node")
    run.add_argument("--key", required=True, help="the client's key file (64 hex digits)")
    run.add_argument("--msp-id", default="Org1", help="the key's organization")
    run.add_argument("--ca", help="CA certificate (PEM) of a node serving TLS")
    run.add_argument("--contract", default="kv")
    run.add_argument("--key-name", default="greeting", help="the key to Put")
    run.add_argument("--value", default="hello", help="the value to Put")
    check = commands.add_parser("vectors", help="recompute the test vectors of protocol.md")
    check.add_argument("doc", help="path of docs/protocol.md")
    args = parser.parse_args()
    pb = load_protos(args.proto_dir)
    return demo(pb, args) if args.command == "demo" else vectors(pb, args)


if __name__ == "__main__":
    sys.exit(main())
