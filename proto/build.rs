//! Compiles `weft/v1/*.proto` with protox (pure Rust, no system `protoc`) and prost-build.
fn main() -> anyhow::Result<()> {
    let dir = std::path::Path::new("weft/v1");
    let mut files: Vec<_> =
        std::fs::read_dir(dir)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    files.retain(|p| p.extension().is_some_and(|e| e == "proto"));
    files.sort();
    println!("cargo:rerun-if-changed=weft");
    let fds = protox::compile(&files, ["."])?;
    prost_build::Config::new().compile_fds(fds)?;
    Ok(())
}
