//! skl2onnx's export of scikit-learn's `DictVectorizer`: a map-typed graph input (one
//! `{key: value}` map per row) read by an `ai.onnx.ml.DictVectorizer`. tract has no map
//! types, so the graph is rewritten before anything else reads it: the vectorizer goes,
//! and its output becomes a dense float input whose columns are the vocabulary.

use std::collections::HashMap;

use tract_onnx::pb::tensor_proto::DataType as OnnxType;
use tract_onnx::pb::tensor_shape_proto::dimension::Value as Dim;
use tract_onnx::pb::tensor_shape_proto::Dimension;
use tract_onnx::pb::type_proto::{Tensor as TensorType, Value as TypeValue};
use tract_onnx::pb::{ModelProto, NodeProto, TensorShapeProto, TypeProto, ValueInfoProto};

use super::graph::{invalid, string_labels};
use crate::runtime::RuntimeError;

/// Replaces each `DictVectorizer` that reads a map-typed graph input (skl2onnx's export
/// of scikit-learn's `DictVectorizer`: one `{key: value}` map per row) by a dense
/// `[N, vocabulary]` float input under the vectorizer's output name: a record by feature
/// name is that map, so the features are the vocabulary (a key the model was not trained
/// on is an unknown feature; send 0 for an absent one, what the vectorizer would write).
/// Returns each new input's column names.
pub(crate) fn replace_dict_vectorizers(
    model: &mut ModelProto,
) -> Result<HashMap<String, Vec<String>>, RuntimeError> {
    let mut vocabularies = HashMap::new();
    let Some(graph) = model.graph.as_mut() else {
        return Ok(vocabularies);
    };
    let map_inputs: Vec<String> = graph
        .input
        .iter()
        .filter(|input| {
            input
                .r#type
                .as_ref()
                .and_then(|t| t.value.as_ref())
                .is_none()
        })
        .map(|input| input.name.clone())
        .collect();
    for name in map_inputs {
        let readers: Vec<usize> = graph
            .node
            .iter()
            .enumerate()
            .filter(|(_, node)| node.input.contains(&name))
            .map(|(index, _)| index)
            .collect();
        let [reader] = readers.as_slice() else {
            continue;
        };
        let node = &graph.node[*reader];
        if node.op_type != "DictVectorizer" || node.output.len() != 1 {
            continue;
        }
        let vocabulary = dict_vocabulary(node)?;
        let output = node.output[0].clone();
        let width = vocabulary.len() as i64;
        graph.node.remove(*reader);
        if let Some(input) = graph.input.iter_mut().find(|input| input.name == name) {
            *input = dense_input(&output, width);
        }
        vocabularies.insert(output, vocabulary);
    }
    Ok(vocabularies)
}

fn dict_vocabulary(node: &NodeProto) -> Result<Vec<String>, RuntimeError> {
    let strings = node
        .attribute
        .iter()
        .find(|a| a.name == "string_vocabulary")
        .map(|a| string_labels(node, a))
        .transpose()?
        .map(|labels| {
            labels
                .into_iter()
                .map(|l| l.to_string())
                .collect::<Vec<_>>()
        });
    let ints = node
        .attribute
        .iter()
        .find(|a| a.name == "int64_vocabulary")
        .map(|a| a.ints.iter().map(i64::to_string).collect::<Vec<_>>());
    match strings.or(ints) {
        Some(vocabulary) if !vocabulary.is_empty() => Ok(vocabulary),
        _ => Err(invalid(format!(
            "DictVectorizer {:?} has no vocabulary",
            node.name
        ))),
    }
}

/// A `[N, width]` float graph input.
fn dense_input(name: &str, width: i64) -> ValueInfoProto {
    let dims = [Dim::DimParam("N".into()), Dim::DimValue(width)].map(|value| Dimension {
        value: Some(value),
        ..Default::default()
    });
    ValueInfoProto {
        name: name.to_owned(),
        r#type: Some(TypeProto {
            value: Some(TypeValue::TensorType(TensorType {
                elem_type: OnnxType::Float as i32,
                shape: Some(TensorShapeProto { dim: dims.to_vec() }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}
