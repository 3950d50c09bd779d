//! Reads a model's interface straight from the ONNX graph proto, before tract sees it:
//! its input tensors (name, element type, width, whether missing values are imputed),
//! which output Capstan serves, and whether that is a classifier's probabilities (with
//! the class labels) or a regressor's values (with the number of targets).
//!
//! Conventions it relies on (what skl2onnx and other converters emit):
//! - graph inputs that are not initializers, each shaped `[N, width]`, of type float,
//!   double, int64 or string; skl2onnx gives a `ColumnTransformer` one input per column;
//! - a classifier has a label output (a rank-1 int64 or string tensor) beside its
//!   probabilities, which are a `ZipMap` output or a `[N, classes]` float tensor;
//!   anything else with a float output is a regressor (`[N]` or `[N, targets]`);
//! - class labels are the `classlabels_int64s` / `classlabels_ints` /
//!   `classlabels_strings` attribute of the nearest node upstream of the probabilities
//!   that has one (`ZipMap`, `LinearClassifier`, `TreeEnsembleClassifier`, …), else the
//!   constant an `ArrayFeatureExtractor` picks labels from (an MLP without ZipMap). They
//!   are read here because the label outputs are never computed by Capstan.
//!
//! It also prepares the copy of the graph handed to tract (`dict_vectorizer.rs` rewrites
//! map inputs before this runs): `replace_string_labels_with_indices`
//! turns `classlabels_strings` into integer labels `0..k` (tract's `LinearClassifier` cannot
//! build a string label tensor), and `check_operators` refuses a graph with an operator no
//! registered builder can run, naming it.

use std::collections::{HashMap, HashSet, VecDeque};

use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::tensor_proto::DataType as OnnxType;
use tract_onnx::pb::tensor_shape_proto::dimension::Value as Dim;
use tract_onnx::pb::type_proto::Value as TypeValue;
use tract_onnx::pb::{
    AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto, ValueInfoProto,
};

use crate::runtime::{RuntimeError, ONNX};
use crate::signature::{ClassLabel, DataType, Feature, Signature};

/// One graph input: a `[N, width]` tensor.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct GraphInput {
    pub name: String,
    pub dtype: DataType,
    /// `None` when the graph leaves the width symbolic.
    pub width: Option<usize>,
    /// Missing values (NaN) reach an `Imputer` before anything else reads them.
    pub nullable: bool,
    /// The names of its columns, when the graph has them (a `DictVectorizer`'s
    /// vocabulary).
    pub names: Option<Vec<String>>,
}

/// What the served output holds.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Task {
    /// `[N, classes]` probabilities; labels when the graph names them.
    Classifier { classes: Option<Vec<ClassLabel>> },
    /// `[N]` or `[N, targets]` values; `None` when the width is symbolic.
    Regressor { targets: Option<usize> },
}

/// What Capstan needs to know about a graph.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct GraphInterface {
    pub inputs: Vec<GraphInput>,
    /// The graph output Capstan computes.
    pub output: String,
    pub task: Task,
}

impl GraphInterface {
    /// The signature the graph implies. One input: features `f0..f{n-1}` (ONNX has no
    /// feature names) and the input tensor. Several inputs: one feature per input column,
    /// named after the input (`name`, or `name_0…` for a wider input). `None` while a
    /// width is symbolic.
    pub fn signature(&self) -> Option<Signature> {
        let (classes, targets) = match &self.task {
            Task::Classifier { classes } => (classes.clone(), None),
            Task::Regressor { targets } => (None, Some((*targets)?)),
        };
        let mut inputs = Vec::new();
        for input in &self.inputs {
            let width = input.width?;
            for column in 0..width {
                let name = match (self.inputs.len(), width) {
                    _ if input.names.is_some() => input.names.as_ref()?.get(column)?.clone(),
                    (1, _) => format!("f{column}"),
                    (_, 1) => input.name.clone(),
                    _ => format!("{}_{column}", input.name),
                };
                inputs.push(Feature {
                    name,
                    dtype: input.dtype,
                    nullable: input.nullable,
                });
            }
        }
        Some(Signature {
            inputs,
            input_tensor: (self.inputs.len() == 1).then(|| self.inputs[0].name.clone()),
            classes,
            targets,
        })
    }
}

pub(crate) fn invalid(reason: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::invalid_artifact(ONNX, reason)
}

/// Finds the interface of the model's main graph; `vocabularies` names the columns of
/// inputs that replaced a `DictVectorizer` (see `replace_dict_vectorizers`).
pub(crate) fn inspect(
    model: &ModelProto,
    vocabularies: &HashMap<String, Vec<String>>,
) -> Result<GraphInterface, RuntimeError> {
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| invalid("the model has no graph"))?;
    check_outputs_are_produced(graph)?;
    let consumers = consumers(graph);
    let inputs = graph_inputs(graph)?
        .into_iter()
        .map(|input| {
            let (dtype, width) = input_type_and_width(input)?;
            Ok(GraphInput {
                name: input.name.clone(),
                dtype,
                width,
                nullable: dtype.is_numeric() && handles_missing(&consumers, &input.name),
                names: vocabularies.get(&input.name).cloned(),
            })
        })
        .collect::<Result<Vec<_>, RuntimeError>>()?;
    let producers = producers(graph);
    let (output, task) = served_output(graph, &producers)?;
    Ok(GraphInterface {
        inputs,
        output,
        task,
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

fn graph_inputs(graph: &GraphProto) -> Result<Vec<&ValueInfoProto>, RuntimeError> {
    let initializers: HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let inputs: Vec<&ValueInfoProto> = graph
        .input
        .iter()
        .filter(|input| !initializers.contains(input.name.as_str()))
        .collect();
    if inputs.is_empty() {
        return Err(invalid("the graph has no input tensor"));
    }
    Ok(inputs)
}

fn input_type_and_width(input: &ValueInfoProto) -> Result<(DataType, Option<usize>), RuntimeError> {
    let Some(TypeValue::TensorType(tensor)) = input.r#type.as_ref().and_then(|t| t.value.as_ref())
    else {
        return Err(invalid(format!("input {:?} is not a tensor", input.name)));
    };
    let dtype = match OnnxType::try_from(tensor.elem_type) {
        Ok(OnnxType::Float) => DataType::Float32,
        Ok(OnnxType::Double) => DataType::Float64,
        Ok(OnnxType::Int64) => DataType::Int64,
        Ok(OnnxType::String) => DataType::String,
        other => {
            return Err(invalid(format!(
                "input {:?} is a {} tensor; Capstan serves float, double, int64 and string inputs",
                input.name,
                other.map_or_else(|_| "an unknown type of".to_string(), |t| format!("{t:?}"))
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

/// The nodes that read each tensor, by tensor name.
type Consumers<'g> = HashMap<&'g str, Vec<&'g NodeProto>>;

fn consumers(graph: &GraphProto) -> Consumers<'_> {
    let mut consumers: Consumers<'_> = HashMap::new();
    for node in &graph.node {
        for input in &node.input {
            consumers.entry(input.as_str()).or_default().push(node);
        }
    }
    consumers
}

/// Whether every path from `tensor` through layout operators (concatenation, casts,
/// reshapes) ends in an operator made for missing values — an `Imputer`, or a tree
/// ensemble that routes them (`nodes_missing_value_tracks_true`) — so a missing value
/// (NaN) has a defined answer and the input's features are nullable.
fn handles_missing(consumers: &Consumers<'_>, tensor: &str) -> bool {
    const LAYOUT: [&str; 6] = [
        "Concat", "Cast", "Identity", "Reshape", "Flatten", "Squeeze",
    ];
    let mut queue = VecDeque::from([tensor.to_string()]);
    let mut found = false;
    let mut steps = 0;
    while let Some(tensor) = queue.pop_front() {
        steps += 1;
        if steps > 64 {
            return false;
        }
        let Some(readers) = consumers.get(tensor.as_str()) else {
            return false;
        };
        for reader in readers {
            match reader.op_type.as_str() {
                "Imputer" => found = true,
                "TreeEnsembleClassifier" | "TreeEnsembleRegressor" if routes_missing(reader) => {
                    found = true
                }
                op if LAYOUT.contains(&op) => queue.extend(reader.output.iter().cloned()),
                _ => return false,
            }
        }
    }
    found
}

fn routes_missing(node: &NodeProto) -> bool {
    node.attribute
        .iter()
        .any(|a| a.name == "nodes_missing_value_tracks_true" && a.ints.iter().any(|t| *t != 0))
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

/// The output Capstan serves and what it holds (see the module's conventions).
fn served_output(
    graph: &GraphProto,
    producers: &Producers<'_>,
) -> Result<(String, Task), RuntimeError> {
    let from_zip_map = graph.output.iter().find(|output| {
        producers
            .get(output.name.as_str())
            .is_some_and(|node| node.op_type == "ZipMap")
    });
    let has_label_output = graph.output.iter().any(is_label_vector);
    let probabilities = from_zip_map.or_else(|| {
        has_label_output
            .then(|| {
                graph
                    .output
                    .iter()
                    .find(|output| is_float_tensor(output, 2))
            })
            .flatten()
    });
    if let Some(output) = probabilities {
        let classes = class_labels_upstream_of(producers, &output.name)?;
        let classes = match classes {
            Some(classes) => Some(classes),
            None => graph
                .output
                .iter()
                .filter(|output| is_label_vector(output))
                .find_map(|label| label_constant_upstream_of(graph, producers, &label.name)),
        };
        return Ok((output.name.clone(), Task::Classifier { classes }));
    }
    let values = graph
        .output
        .iter()
        .find(|output| is_float_tensor(output, 2) || is_float_tensor(output, 1))
        .ok_or_else(|| {
            invalid(
                "no graph output holds predictions: class probabilities (a ZipMap output or a \
                 [rows, classes] float tensor beside a label output) or values (a [rows] or \
                 [rows, targets] float tensor)",
            )
        })?;
    let targets = match tensor_dims(values).as_slice() {
        [_] => Some(1),
        [_, Some(width)] => Some(*width),
        _ => None,
    };
    Ok((values.name.clone(), Task::Regressor { targets }))
}

/// A rank-1 int64 or string tensor: a classifier's predicted labels.
fn is_label_vector(value: &ValueInfoProto) -> bool {
    let Some(TypeValue::TensorType(tensor)) = value.r#type.as_ref().and_then(|t| t.value.as_ref())
    else {
        return false;
    };
    matches!(
        OnnxType::try_from(tensor.elem_type),
        Ok(OnnxType::Int64 | OnnxType::String)
    ) && tensor
        .shape
        .as_ref()
        .is_some_and(|shape| shape.dim.len() == 1)
}

/// The fixed dimensions of a tensor value (`None` for a symbolic one).
fn tensor_dims(value: &ValueInfoProto) -> Vec<Option<usize>> {
    let Some(TypeValue::TensorType(tensor)) = value.r#type.as_ref().and_then(|t| t.value.as_ref())
    else {
        return Vec::new();
    };
    tensor
        .shape
        .as_ref()
        .map(|shape| {
            shape
                .dim
                .iter()
                .map(|dim| match dim.value {
                    Some(Dim::DimValue(n)) if n > 0 => usize::try_from(n).ok(),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

fn is_float_tensor(value: &ValueInfoProto, rank: usize) -> bool {
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
            .is_some_and(|shape| shape.dim.len() == rank)
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

/// The constant an `ArrayFeatureExtractor` upstream of a label output picks the labels
/// from (skl2onnx's MLP classifier without ZipMap): an int64 or string initializer.
fn label_constant_upstream_of(
    graph: &GraphProto,
    producers: &Producers<'_>,
    output: &str,
) -> Option<Vec<ClassLabel>> {
    let mut queue = VecDeque::from([output]);
    let mut seen = HashSet::new();
    while let Some(tensor) = queue.pop_front() {
        let node = producers.get(tensor)?;
        if !seen.insert(std::ptr::from_ref(*node)) {
            continue;
        }
        if node.op_type == "ArrayFeatureExtractor" {
            let constant = node.input.first()?;
            let initializer = graph.initializer.iter().find(|t| &t.name == constant)?;
            return labels_of_tensor(initializer);
        }
        queue.extend(node.input.iter().map(String::as_str));
    }
    None
}

fn labels_of_tensor(tensor: &TensorProto) -> Option<Vec<ClassLabel>> {
    match OnnxType::try_from(tensor.data_type) {
        Ok(OnnxType::Int64) if !tensor.int64_data.is_empty() => Some(
            tensor
                .int64_data
                .iter()
                .copied()
                .map(ClassLabel::Int)
                .collect(),
        ),
        Ok(OnnxType::Int64) => Some(
            tensor
                .raw_data
                .chunks_exact(8)
                .map(|bytes| {
                    let mut eight = [0; 8];
                    eight.copy_from_slice(bytes);
                    ClassLabel::Int(i64::from_le_bytes(eight))
                })
                .collect(),
        ),
        Ok(OnnxType::String) => tensor
            .string_data
            .iter()
            .map(|bytes| String::from_utf8(bytes.clone()).ok().map(ClassLabel::Text))
            .collect(),
        _ => None,
    }
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

pub(super) fn string_labels(
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
