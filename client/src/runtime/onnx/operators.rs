//! Which operators an ONNX graph uses, and whether Capstan can run every one of them:
//! checked before tract parses the graph, so an upload with an operator nobody can run
//! is refused with its name (`ai.onnx.ml.SVMRegressor`), not with a parser's error at the
//! first prediction.

use std::collections::BTreeSet;

use tract_onnx::pb::{GraphProto, ModelProto};

use super::onnx_framework;
use crate::runtime::RuntimeError;

/// The standard domains: the default operator set (`""` or `ai.onnx`) and ONNX-ML.
const ML_DOMAIN: &str = "ai.onnx.ml";

/// Refuses a model whose graph (or a subgraph of an `If`, `Loop` or `Scan`) uses an
/// operator that no registered builder runs, or an operator of another domain.
pub(crate) fn check_operators(model: &ModelProto) -> Result<(), RuntimeError> {
    let framework = onnx_framework();
    let mut missing = BTreeSet::new();
    if let Some(graph) = &model.graph {
        collect_missing(
            graph,
            &|domain, op| {
                (domain.is_empty() || domain == "ai.onnx" || domain == ML_DOMAIN)
                    && framework.op_register.0.contains_key(op)
            },
            &mut missing,
            0,
        );
    }
    match missing.into_iter().next() {
        None => Ok(()),
        Some((operator, node)) => Err(RuntimeError::UnsupportedOperator { operator, node }),
    }
}

/// Adds `(qualified operator, node name)` for every node `known` refuses.
fn collect_missing(
    graph: &GraphProto,
    known: &dyn Fn(&str, &str) -> bool,
    missing: &mut BTreeSet<(String, String)>,
    depth: usize,
) {
    if depth > 16 {
        return;
    }
    for node in &graph.node {
        if !known(&node.domain, &node.op_type) {
            let operator = if node.domain.is_empty() || node.domain == "ai.onnx" {
                node.op_type.clone()
            } else {
                format!("{}.{}", node.domain, node.op_type)
            };
            missing.insert((operator, node.name.clone()));
        }
        for attribute in &node.attribute {
            for subgraph in attribute.g.iter().chain(&attribute.graphs) {
                collect_missing(subgraph, known, missing, depth + 1);
            }
        }
    }
}
