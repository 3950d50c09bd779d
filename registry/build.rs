//! Generates the Open Inference Protocol's gRPC service (messages, server and a client for
//! the tests and benchmarks) from `proto/open_inference_grpc.proto`, compiled by protox
//! (pure Rust, no `protoc`), and writes its encoded descriptor for server reflection.

use std::path::PathBuf;

use prost::Message;

const PROTO: &str = "proto/open_inference_grpc.proto";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed={PROTO}");
    let descriptors = protox::compile([PROTO], ["proto"])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("inference_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .build_transport(false)
        .compile_fds(descriptors)?;
    Ok(())
}
