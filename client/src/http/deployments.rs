//! Deployments: `/api/v1/deployments[/{name}[/instances/{instance}]]`, what the control
//! plane knows of each consumer of a ref, and how instances report what they run.

use reqwest::Method;

use super::api::{self, DeploymentQuery};
use super::Client;
use crate::error::Result;
use crate::names::ModelName;
use crate::types::{Deployment, DeploymentInstance, DeploymentPage, InstanceReport, PutDeployment};

impl Client {
    /// Creates the deployment or replaces it whole.
    pub async fn put_deployment(
        &self,
        name: &ModelName,
        spec: &PutDeployment,
    ) -> Result<Deployment> {
        self.send_json(Method::PUT, &api::deployment(name), spec)
            .await
    }

    /// One page of deployments, by name, with their state computed now.
    pub async fn list_deployments(&self, query: &DeploymentQuery) -> Result<DeploymentPage> {
        self.get_json(&query.path()).await
    }

    /// Deployments `query` selects (following page tokens), at most `max`.
    pub async fn list_all_deployments(
        &self,
        query: &DeploymentQuery,
        max: usize,
    ) -> Result<Vec<Deployment>> {
        let mut query = query.clone();
        let mut deployments = Vec::new();
        loop {
            let page = self.list_deployments(&query).await?;
            deployments.extend(page.deployments);
            match page.next_page_token {
                Some(token) if deployments.len() < max => query.page_token = Some(token),
                _ => break,
            }
        }
        deployments.truncate(max);
        Ok(deployments)
    }

    pub async fn get_deployment(&self, name: &ModelName) -> Result<Deployment> {
        self.get_json(&api::deployment(name)).await
    }

    pub async fn delete_deployment(&self, name: &ModelName) -> Result<()> {
        self.delete(&api::deployment(name)).await
    }

    /// Reports what instance `instance` of deployment `name` runs.
    pub async fn report_instance(
        &self,
        name: &ModelName,
        instance: &ModelName,
        report: &InstanceReport,
    ) -> Result<DeploymentInstance> {
        self.send_json(
            Method::PUT,
            &api::deployment_instance(name, instance),
            report,
        )
        .await
    }
}
