//! The registry under test: the few HTTP calls the benchmarks make besides the measured
//! ones (create the model, upload a small version, promote it, check health).

use anyhow::{bail, ensure, Context};
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};

/// The registry under test.
pub struct Bench {
    pub http: reqwest::Client,
    pub base: String,
    pub model: String,
}

impl Bench {
    pub fn url(&self, path: &str) -> String {
        format!("{}/api/v1{}", self.base, path)
    }

    pub async fn ensure_model(&self) -> anyhow::Result<()> {
        let response = self
            .http
            .post(self.url("/models"))
            .json(&json!({ "name": self.model, "description": "capstan-bench" }))
            .send()
            .await
            .with_context(|| format!("cannot reach the registry at {}", self.base))?;
        match response.status().as_u16() {
            201 | 409 => Ok(()),
            status => bail!(
                "creating model {:?}: HTTP {status}: {}",
                self.model,
                response.text().await.unwrap_or_default()
            ),
        }
    }

    /// One-step upload of `artifact`; returns the version number.
    pub async fn upload_small(&self, artifact: Vec<u8>) -> anyhow::Result<i64> {
        self.upload_as("opaque", artifact).await
    }

    /// One-step upload of `artifact` in `format`; returns the version number.
    pub async fn upload_as(&self, format: &str, artifact: Vec<u8>) -> anyhow::Result<i64> {
        let form = Form::new()
            .part(
                "metadata",
                Part::text(json!({ "format": format, "source": "capstan-bench" }).to_string())
                    .mime_str("application/json")?,
            )
            .part(
                "artifact",
                Part::bytes(artifact)
                    .file_name("model.bin")
                    .mime_str("application/octet-stream")?,
            );
        let response = self
            .http
            .post(self.url(&format!("/models/{}/versions", self.model)))
            .multipart(form)
            .send()
            .await?;
        version_number(expect(response, 201, "upload").await?)
    }

    pub async fn promote(&self, stage: &str, version: i64) -> anyhow::Result<()> {
        let response = self
            .http
            .post(self.url(&format!("/models/{}/stages/{stage}", self.model)))
            .json(&json!({ "version": version }))
            .send()
            .await?;
        expect(response, 200, "promote").await?;
        Ok(())
    }

    pub async fn get_version(&self, reference: &str) -> anyhow::Result<reqwest::Response> {
        Ok(self
            .http
            .get(self.url(&format!("/models/{}/versions/{reference}", self.model)))
            .send()
            .await?)
    }

    /// A cheap request to open the keep-alive connection and warm the server's paths.
    pub async fn healthz(&self) -> anyhow::Result<()> {
        let response = self
            .http
            .get(format!("{}/healthz", self.base))
            .send()
            .await?;
        ensure!(
            response.status().is_success(),
            "GET /healthz: {}",
            response.status()
        );
        response.bytes().await?;
        Ok(())
    }
}

pub async fn expect(response: reqwest::Response, status: u16, what: &str) -> anyhow::Result<Value> {
    let actual = response.status().as_u16();
    let body = response.bytes().await?;
    if actual != status {
        bail!(
            "{what}: HTTP {actual} (expected {status}): {}",
            String::from_utf8_lossy(&body)
        );
    }
    Ok(serde_json::from_slice(&body)?)
}

pub fn version_number(version: Value) -> anyhow::Result<i64> {
    version["version"]
        .as_i64()
        .with_context(|| format!("no version number in {version}"))
}
