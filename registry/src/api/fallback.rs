//! Requests no route takes: `405 Method Not Allowed` with `Allow` when the path is one of
//! the document's routes under other methods, `404` otherwise; both as problem documents
//! through the one error mapping.

use actix_web::dev::ResourceDef;
use actix_web::{web, HttpRequest, HttpResponse};
use utoipa::openapi::OpenApi;

use crate::error::RegistryError;

/// The routes of a process, with the methods each answers: read from its own OpenAPI
/// document, whose paths are actix patterns (`/api/v1/models/{name}`).
pub struct RouteTable {
    routes: Vec<(ResourceDef, String)>,
}

impl RouteTable {
    pub fn of(document: &OpenApi) -> Self {
        let routes = document
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let methods: Vec<&str> = [
                    ("GET", item.get.is_some()),
                    ("HEAD", item.head.is_some()),
                    ("POST", item.post.is_some()),
                    ("PUT", item.put.is_some()),
                    ("PATCH", item.patch.is_some()),
                    ("DELETE", item.delete.is_some()),
                ]
                .into_iter()
                .filter_map(|(method, answered)| answered.then_some(method))
                .collect();
                (ResourceDef::new(path.as_str()), methods.join(", "))
            })
            .collect();
        Self { routes }
    }

    /// The methods the route matching `path` answers, if one does.
    fn allowed(&self, path: &str) -> Option<&str> {
        self.routes
            .iter()
            .find(|(route, _)| route.is_match(path))
            .map(|(_, methods)| methods.as_str())
    }
}

/// The default service of both apps.
pub async fn unmatched(
    request: HttpRequest,
    routes: web::Data<RouteTable>,
) -> Result<HttpResponse, RegistryError> {
    Err(match routes.allowed(request.path()) {
        Some(allowed) => RegistryError::MethodNotAllowed {
            method: request.method().to_string(),
            allowed: allowed.to_owned(),
        },
        None => RegistryError::not_found(
            "route_not_found",
            format!("no route for {} {}", request.method(), request.path()),
        ),
    })
}
