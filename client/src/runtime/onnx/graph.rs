//! Reads a classifier's interface straight from the ONNX graph proto, before tract sees
//! it: the input tensor (name, element type, feature count), which output holds the class
//! probabilities, and the class labels.
//!
//! Conventions it relies on (what skl2onnx and other converters emit):
//! - exactly one graph input that is not an initializer, shaped `[N, features]`;
//! - the probabilities are a graph output produced by `ZipMap`, or else a graph output
//!   declared as a `[N, classes]` float/double tensor;
//! - class labels are the `classlabels_int64s` / `classlabels_ints` /
//!   `classlabels_strings` attribute of the nearest node upstream of the probabilities
//!   that has one (`ZipMap`, `LinearClassifier`, `SVMClassifier`,
//!   `TreeEnsembleClassifier`, …). Labels are read here because tract cannot carry string
//!   tensors through its typed graph; the runtime maps probability columns to them itself.
//!
//! It also prepares the copy of the graph handed to tract: `replace_string_labels_with_indices`
//! turns `classlabels_strings` into integer labels `0..k` (tract's `LinearClassifier` cannot
//! build a string label tensor; the label outputs are never computed by Capstan anyway).

use std::collections::{HashMap, HashSet, VecDeque};

use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::tensor_proto::DataType as OnnxType;
use tract_onnx::pb::tensor_shape_proto::dimension::Value as Dim;
use tract_onnx::pb::type_proto::Value as TypeValue;
use tract_onnx::pb::{AttributeProto, GraphProto, ModelProto, NodeProto, ValueInfoProto};

use crate::runtime::{RuntimeError, ONNX};
use crate::signature::{ClassLabel, DataType, Feature, Signature};

/// What Capstan needs to know about a classifier graph.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct GraphInterface {
    pub input_name: String,
    pub input_type: DataType,
    /// `None` when the graph leaves the feature dimension symbolic.
    pub feature_count: Option<usize>,
    pub probability_output: String,
    pub classes: Option<Vec<ClassLabel>>,
}

impl GraphInterface {
    /// The signature the graph implies: `f0..f{n-1}` (ONNX has no feature names), the
    /// input tensor and the class labels. `None` without a fixed feature count.
    pub fn signature(&self) -> Option<Signature> {
        let features = self.feature_count?;
        Some(Signature {
            inputs: (0..features)
                .map(|index| Feature {
                    name: format!("f{index}"),
                    dtype: self.input_type,
                })
                .collect(),
            input_tensor: Some(self.input_name.clone()),
            classes: self.classes.clone(),
        })
    }
}

pub(crate) fn invalid(reason: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::invalid_artifact(ONNX, reason)
}

/// Finds the interface of the model's main graph.
pub(crate) fn inspect(model: &ModelProto) -> Result<GraphInterface, RuntimeError> {
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| invalid("the model has no graph"))?;
    check_outputs_are_produced(graph)?;
    let input = single_input(graph)?;
    let (input_type, feature_count) = input_type_and_width(input)?;
    let producers = producers(graph);
    let probability_output = probability_output(graph, &producers)?;
    let classes = class_labels_upstream_of(&producers, &probability_output)?;
    Ok(GraphInterface {
        input_name: input.name.clone(),
        input_type,
        feature_count,
        probability_output,
        classes,
    })
}

/// Every graph output must name a tensor the graph defines (tract panics otherwise).
fn check_outputs_are_produced(graph: &GraphProto) -> Result<(), RuntimeError> {
    let defined: HashSet<&str> = graph
        .node
        .iter()
        .flat_map(|node| node.output.iter())
        .chain(graph.input.iter().map(|input| &input.name))
        .chain(graph.initializer.iter().map(|tensor| &tensor.name))
        .map(String::as_str)
        .collect();
    match graph
        .output
        .iter()
        .find(|output| !defined.contains(output.name.as_str()))
    {
        Some(output) => Err(invalid(format!(
            "graph output {:?} is not produced by any node",
            output.name
        ))),
        None => Ok(()),
    }
}

fn single_input(graph: &GraphProto) -> Result<&ValueInfoProto, RuntimeError> {
    let initializers: HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let inputs: Vec<&ValueInfoProto> = graph
        .input
        .iter()
        .filter(|input| !initializers.contains(input.name.as_str()))
        .collect();
    match inputs.as_slice() {
        [input] => Ok(input),
        _ => Err(invalid(format!(
            "the graph must have exactly one input tensor, it has {}",
            inputs.len()
        ))),
    }
}

fn input_type_and_width(input: &ValueInfoProto) -> Result<(DataType, Option<usize>), RuntimeError> {
    let Some(TypeValue::TensorType(tensor)) = input.r#type.as_ref().and_then(|t| t.value.as_ref())
    else {
        return Err(invalid(format!("input {:?} is not a tensor", input.name)));
    };
    let dtype = match OnnxType::try_from(tensor.elem_type) {
        Ok(OnnxType::Float) => DataType::Float32,
        Ok(OnnxType::Double) => DataType::Float64,
        _ => {
            return Err(invalid(format!(
                "input {:?} must be a float or double tensor",
                input.name
            )))
        }
    };
    let dims = tensor
        .shape
        .as_ref()
        .map(|s| s.dim.as_slice())
        .unwrap_or_default();
    if dims.len() != 2 {
        return Err(invalid(format!(
            "input {:?} must have shape [rows, features], it has rank {}",
            input.name,
            dims.len()
        )));
    }
    let width = match dims[1].value {
        Some(Dim::DimValue(width)) if width > 0 => usize::try_from(width).ok(),
        _ => None,
    };
    Ok((dtype, width))
}

/// The node that computes each tensor, by tensor name.
type Producers<'g> = HashMap<&'g str, &'g NodeProto>;

fn producers(graph: &GraphProto) -> Producers<'_> {
    graph
        .node
        .iter()
        .flat_map(|node| {
            node.output
                .iter()
                .map(move |output| (output.as_str(), node))
        })
        .collect()
}

fn probability_output(graph: &GraphProto, producers: &Producers) -> Result<String, RuntimeError> {
    let from_zip_map = graph.output.iter().find(|output| {
        producers
            .get(output.name.as_str())
            .is_some_and(|node| node.op_type == "ZipMap")
    });
    from_zip_map
        .or_else(|| graph.output.iter().find(|output| is_float_matrix(output)))
        .map(|output| output.name.clone())
        .ok_or_else(|| {
            invalid(
                "no graph output holds class probabilities (a ZipMap output or a \
                 [rows, classes] float tensor)",
            )
        })
}

fn is_float_matrix(value: &ValueInfoProto) -> bool {
    let Some(TypeValue::TensorType(tensor)) = value.r#type.as_ref().and_then(|t| t.value.as_ref())
    else {
        return false;
    };
    let float = matches!(
        OnnxType::try_from(tensor.elem_type),
        Ok(OnnxType::Float | OnnxType::Double)
    );
    float
        && tensor
            .shape
            .as_ref()
            .is_some_and(|shape| shape.dim.len() == 2)
}

/// Walks upstream from `output` (breadth first) to the nearest node with class labels.
fn class_labels_upstream_of(
    producers: &Producers,
    output: &str,
) -> Result<Option<Vec<ClassLabel>>, RuntimeError> {
    let mut queue = VecDeque::from([output]);
    let mut seen = HashSet::new();
    while let Some(tensor) = queue.pop_front() {
        let Some(node) = producers.get(tensor) else {
            continue;
        };
        if !seen.insert(std::ptr::from_ref(*node)) {
            continue;
        }
        if let Some(labels) = class_labels_of(node)? {
            return Ok(Some(labels));
        }
        queue.extend(node.input.iter().map(String::as_str));
    }
    Ok(None)
}

fn class_labels_of(node: &NodeProto) -> Result<Option<Vec<ClassLabel>>, RuntimeError> {
    for attribute in &node.attribute {
        match attribute.name.as_str() {
            "classlabels_ints" | "classlabels_int64s" => {
                return Ok(Some(
                    attribute
                        .ints
                        .iter()
                        .copied()
                        .map(ClassLabel::Int)
                        .collect(),
                ));
            }
            "classlabels_strings" => return string_labels(node, attribute).map(Some),
            _ => {}
        }
    }
    Ok(None)
}

fn string_labels(
    node: &NodeProto,
    attribute: &AttributeProto,
) -> Result<Vec<ClassLabel>, RuntimeError> {
    attribute
        .strings
        .iter()
        .map(|bytes| {
            String::from_utf8(bytes.clone())
                .map(ClassLabel::Text)
                .map_err(|_| {
                    invalid(format!(
                        "node {:?} has a class label that is not UTF-8",
                        node.name
                    ))
                })
        })
        .collect()
}

/// Replaces every `classlabels_strings` attribute in the main graph by integer labels
/// `0..k` under the operator's integer attribute name, so tract can type the node. Read
/// the labels with `inspect` first.
pub(crate) fn replace_string_labels_with_indices(model: &mut ModelProto) {
    let Some(graph) = model.graph.as_mut() else {
        return;
    };
    for node in &mut graph.node {
        let integer_name = match node.op_type.as_str() {
            "ZipMap" | "TreeEnsembleClassifier" => "classlabels_int64s",
            _ => "classlabels_ints",
        };
        for attribute in &mut node.attribute {
            if attribute.name == "classlabels_strings" {
                let count = attribute.strings.len() as i64;
                attribute.name = integer_name.to_string();
                attribute.r#type = AttributeType::Ints as i32;
                attribute.ints = (0..count).collect();
                attribute.strings.clear();
            }
        }
    }
}
