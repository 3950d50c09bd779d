//! Models: `/api/v1/models[/{name}]`.

use reqwest::Method;

use super::api::{self, ModelQuery};
use super::Client;
use crate::error::Result;
use crate::names::ModelName;
use crate::types::{CreateModel, Model, ModelPage, UpdateModel};

impl Client {
    /// One page of models, by name.
    pub async fn list_models(&self, query: &ModelQuery) -> Result<ModelPage> {
        self.get_json(&query.path()).await
    }

    /// Every model matching `query`'s filters (following page tokens), at most `max`.
    pub async fn list_all_models(&self, query: &ModelQuery, max: usize) -> Result<Vec<Model>> {
        let mut query = query.clone();
        let mut models = Vec::new();
        loop {
            let page = self.list_models(&query).await?;
            models.extend(page.models);
            match page.next_page_token {
                Some(token) if models.len() < max => query.page_token = Some(token),
                _ => break,
            }
        }
        models.truncate(max);
        Ok(models)
    }

    pub async fn get_model(&self, name: &ModelName) -> Result<Model> {
        self.get_json(&api::model(name)).await
    }

    pub async fn create_model(&self, model: &CreateModel) -> Result<Model> {
        self.send_json(Method::POST, api::MODELS, model).await
    }

    pub async fn update_model(&self, name: &ModelName, update: &UpdateModel) -> Result<Model> {
        self.send_json(Method::PATCH, &api::model(name), update)
            .await
    }

    /// Deletes a model and its versions (refused while a version holds a stage).
    pub async fn delete_model(&self, name: &ModelName) -> Result<()> {
        self.delete(&api::model(name)).await
    }
}
