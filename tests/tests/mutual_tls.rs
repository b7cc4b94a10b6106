//! Mutual TLS through the real server: with client certificates required, the dev client
//! certificate gets in and round-trips an invoke and a query, while a client without one or
//! with one from another CA is refused at the transport with a readable error; with
//! `client_auth = "optional"` a client without a certificate gets in (a bad one still does
//! not); signatures apply as before; TLS configuration mistakes name the file or key.

use tonic::Code;
use weft_client::{Client, TlsOptions};
use weft_e2e::{TestNet, args};
use weft_node::config::ClientAuth;
use weft_node::devnet::{DevNetwork, TLS_DOMAIN, Transport};
use weft_proto::v1::TxValidationCode;
use weft_protocol::identity::SigningIdentity;

/// TLS options of `net` that trust its CA and present no client certificate.
fn without_certificate(net: &DevNetwork) -> TlsOptions {
    TlsOptions::new(std::fs::read(net.tls_ca_path()).unwrap(), TLS_DOMAIN)
}

/// TLS options that trust `net`'s CA but present the client certificate of another dev
/// network, signed by another CA.
fn stranger_certificate(net: &DevNetwork, other: &tempfile::TempDir) -> TlsOptions {
    let stranger = DevNetwork::at(other.path().join("stranger"));
    stranger.create("dev", "127.0.0.1:0".parse().unwrap(), Transport::MutualTls).unwrap();
    without_certificate(net).with_client_identity(
        std::fs::read(stranger.tls_client_cert_path()).unwrap(),
        std::fs::read(stranger.tls_client_key_path()).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_required() {
    let net = TestNet::start_with(Transport::MutualTls, |_| {}).await;
    let tls = net.config.tls.clone().unwrap();
    assert_eq!(tls.client_auth_mode().unwrap(), Some(ClientAuth::Required));

    // The dev client certificate (what the CLI presents): an invoke and a query.
    net.deploy_asset_transfer().await;
    let moved = net.client.submit("basic", "TransferAsset", args(&["asset1", "Ana"])).await;
    assert_eq!(moved.unwrap().status.code(), TxValidationCode::Valid);
    let read = net.client.evaluate("basic", "ReadAsset", args(&["asset1"])).await.unwrap();
    let asset: serde_json::Value = serde_json::from_slice(&read.payload).unwrap();
    assert_eq!(asset["Owner"], "Ana");
    let state = (net.node.ledger().chain_info(), net.node.ledger().state_hash().unwrap());

    // No client certificate: refused in the handshake, and the error says so.
    let identity = || net.net.identity("client").unwrap();
    let refused = Client::connect_tls(&net.url(), &without_certificate(&net.net), identity())
        .await
        .expect_err("a client without a certificate is refused");
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    let message = refused.message();
    assert!(
        message.contains("closed the TLS connection (without a client certificate)"),
        "{message}"
    );

    // A certificate from another CA: refused too.
    let other = tempfile::tempdir().unwrap();
    let refused =
        Client::connect_tls(&net.url(), &stranger_certificate(&net.net, &other), identity())
            .await
            .expect_err("a certificate from another CA is refused");
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    let message = refused.message();
    assert!(message.contains("closed the TLS connection (with a client certificate)"), "{message}");
    assert!(message.contains("tls.client_ca"), "{message}");
    eprintln!("refused: {message}");

    // A valid certificate does not stand in for signatures: an unknown signer is refused.
    let unknown = SigningIdentity::from_secret("Org1", [9; 32]);
    let tls = net.net.tls_options().unwrap();
    let stranger = Client::connect_tls(&net.url(), &tls, unknown).await.unwrap();
    let status = stranger.evaluate("basic", "ReadAsset", args(&["asset1"])).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");

    // Nothing the refused clients did reached the ledger.
    assert_eq!(net.node.ledger().chain_info(), state.0);
    assert_eq!(net.node.ledger().state_hash().unwrap(), state.1);
    net.node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_optional() {
    let net = TestNet::start_with(Transport::MutualTls, |c| {
        c.tls.as_mut().unwrap().client_auth = Some(ClientAuth::Optional);
    })
    .await;
    net.deploy_asset_transfer().await;
    let identity = || net.net.identity("client").unwrap();

    // Without a certificate: in, and transactions work as usual.
    let plain = Client::connect_tls(&net.url(), &without_certificate(&net.net), identity())
        .await
        .expect("a client without a certificate connects");
    let done = plain.submit("basic", "TransferAsset", args(&["asset2", "Bo"])).await.unwrap();
    assert_eq!(done.status.code(), TxValidationCode::Valid);
    let read = net.client.evaluate("basic", "ReadAsset", args(&["asset2"])).await.unwrap();
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&read.payload).unwrap()["Owner"], "Bo");

    // Optional is not "anything goes": a certificate presented must verify.
    let other = tempfile::tempdir().unwrap();
    let refused =
        Client::connect_tls(&net.url(), &stranger_certificate(&net.net, &other), identity())
            .await
            .expect_err("a certificate from another CA is refused");
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    net.node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_configuration_mistakes_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let net = DevNetwork::at(dir.path().join("dev"));
    let good = net.create("dev", "127.0.0.1:0".parse().unwrap(), Transport::MutualTls).unwrap();
    let start = |tune: &dyn Fn(&mut weft_node::config::TlsConfig)| {
        let mut config = good.clone();
        tune(config.tls.as_mut().unwrap());
        async move { weft_node::Node::start(&config).await.unwrap_err().to_string() }
    };

    let missing = dir.path().join("nowhere/ca.pem");
    let err = start(&|tls| tls.client_ca = Some(missing.clone())).await;
    assert!(err.contains("tls.client_ca") && err.contains("nowhere/ca.pem"), "{err}");

    let err = start(&|tls| tls.client_ca = Some(net.tls_client_key_path())).await;
    assert!(err.contains("holds no PEM certificate") && err.contains("client.key"), "{err}");

    let err = start(&|tls| {
        tls.client_ca = None;
        tls.client_auth = Some(ClientAuth::Optional);
    })
    .await;
    assert!(err.contains("client_auth = \"optional\" needs tls.client_ca"), "{err}");

    let err = start(&|tls| tls.key = dir.path().join("nokey.pem")).await;
    assert!(err.contains("tls.key") && err.contains("nokey.pem"), "{err}");
}
