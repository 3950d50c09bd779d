//! The `onnx` format: a `Predictor` over a classifier or regressor graph run by tract.
//!
//! Loading reads the graph's interface from the proto (`graph`), checks that every
//! operator can run (`operators`), parses it with tract's ONNX framework plus Capstan's
//! `ai.onnx.ml` operators (`ml_ops`), keeps only the served output (so label outputs,
//! string-typed or not, are never computed), fixes each input to `[N, width]` with a
//! symbolic batch size, and optimises it once. Rows arrive as `Rows` (numbers as `f64`,
//! strings beside them) and are converted to each input's type at the tract boundary;
//! no ndarray type of tract's leaks out of this module.
//!
//! Artifacts come from users: tract can panic on some malformed graphs, so every call into
//! it runs under `catch_unwind` and a panic becomes an error, never a crashed host.

mod dict_vectorizer;
mod graph;
mod ml_ops;
mod operators;

pub use ml_ops::register_ml_ops;

use std::sync::Arc;

use tract_onnx::prelude::*;

use self::dict_vectorizer::replace_dict_vectorizers;
use self::graph::{inspect, invalid, replace_string_labels_with_indices, GraphInterface, Task};
use super::{
    check_rows, reconcile_signature, NamePolicy, Prediction, Predictor, Rows, RuntimeError,
};
use crate::signature::{ClassLabel, DataType, Signature};

/// tract's ONNX framework with Capstan's `ai.onnx.ml` operators registered.
pub fn onnx_framework() -> tract_onnx::Onnx {
    let mut framework = tract_onnx::onnx();
    register_ml_ops(&mut framework.op_register);
    framework
}

/// One graph input as the plan takes it: features `first..first + width` of a row.
#[derive(Clone, Debug)]
struct PlanInput {
    dtype: DataType,
    first: usize,
    width: usize,
}

/// Serves an ONNX classifier or regressor.
pub struct OnnxPredictor {
    plan: Arc<TypedRunnableModel>,
    inputs: Vec<PlanInput>,
    signature: Signature,
}

impl std::fmt::Debug for OnnxPredictor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxPredictor")
            .field("signature", &self.signature)
            .finish_non_exhaustive()
    }
}

impl OnnxPredictor {
    /// Loads a graph. A declared signature names the features of a one-input graph (its
    /// `f0…` are placeholders) and must repeat a several-input graph's names; its
    /// feature count, input tensor, classes and targets must match the graph's.
    pub fn from_bytes(bytes: &[u8], declared: Option<&Signature>) -> Result<Self, RuntimeError> {
        let (proto, interface) = prepare(bytes)?;
        let mut signature = signature_to_serve(&interface, declared)?;
        let inputs = plan_inputs(&interface, &signature)?;
        let plan =
            without_panics(|| optimised_plan(&proto, &interface, &inputs)).map_err(invalid)??;
        let width = output_width(&plan, &interface)?;
        let is_classifier = signature.targets.is_none()
            && (signature.classes.is_some() || matches!(interface.task, Task::Classifier { .. }));
        if is_classifier {
            signature.classes = Some(classes_to_serve(&interface, &signature, width)?);
        } else {
            signature.targets = Some(targets_to_serve(&signature, width)?);
        }
        Ok(OnnxPredictor {
            plan,
            inputs,
            signature,
        })
    }

    /// The rows as one tensor per graph input, converted in one pass each.
    fn input_tensors(&self, rows: &Rows<'_>) -> Result<TVec<TValue>, RuntimeError> {
        let numbers = rows.numbers();
        let fill = |input: &PlanInput| -> TractResult<Tensor> {
            let shape = [rows.len(), input.width];
            let columns = numbers.slice_axis(
                ndarray::Axis(1),
                ndarray::Slice::from(input.first..input.first + input.width),
            );
            match input.dtype {
                DataType::Float32 => {
                    let mut tensor = Tensor::zero::<f32>(&shape)?;
                    let mut view = tensor.to_plain_array_view_mut::<f32>()?;
                    for (out, x) in view.iter_mut().zip(columns) {
                        *out = *x as f32;
                    }
                    Ok(tensor)
                }
                DataType::Float64 => {
                    let mut tensor = Tensor::zero::<f64>(&shape)?;
                    let mut view = tensor.to_plain_array_view_mut::<f64>()?;
                    for (out, x) in view.iter_mut().zip(columns) {
                        *out = *x;
                    }
                    Ok(tensor)
                }
                DataType::Int64 => {
                    let mut tensor = Tensor::zero::<i64>(&shape)?;
                    let mut view = tensor.to_plain_array_view_mut::<i64>()?;
                    for (out, x) in view.iter_mut().zip(columns) {
                        // Whole numbers within ±2^53, checked by `Rows::check`.
                        *out = *x as i64;
                    }
                    Ok(tensor)
                }
                DataType::String => {
                    let mut values = Vec::with_capacity(rows.len() * input.width);
                    for row in 0..rows.len() {
                        for column in input.first..input.first + input.width {
                            let text = rows.text(column).map_or("", |t| t[row].as_str());
                            values.push(text.to_owned());
                        }
                    }
                    Ok(tract_ndarray::Array2::from_shape_vec(shape, values)?.into_tensor())
                }
            }
        };
        self.inputs
            .iter()
            .map(|input| fill(input).map(Tensor::into_tvalue))
            .collect::<TractResult<TVec<TValue>>>()
            .map_err(|e| RuntimeError::Inference(format!("building the input tensors: {e:#}")))
    }
}

impl Predictor for OnnxPredictor {
    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn predict(&self, rows: &Rows<'_>) -> Result<Prediction, RuntimeError> {
        check_rows(rows, &self.signature)?;
        let inputs = self.input_tensors(rows)?;
        let outputs = without_panics(|| self.plan.run(inputs))
            .map_err(|e| RuntimeError::Inference(e.to_string()))?
            .map_err(|e| RuntimeError::Inference(format!("{e:#}")))?;
        let output = outputs
            .first()
            .ok_or_else(|| RuntimeError::Inference("the graph produced no output".into()))?;
        let output = output
            .cast_to::<f64>()
            .map_err(|e| RuntimeError::Inference(format!("reading the output: {e:#}")))?;
        let output = output
            .to_plain_array_view::<f64>()
            .map_err(|e| RuntimeError::Inference(format!("reading the output: {e:#}")))?;
        let width = self
            .signature
            .targets
            .unwrap_or_else(|| self.classes().len());
        let matrix =
            ndarray::Array2::from_shape_vec((rows.len(), width), output.iter().copied().collect())
                .map_err(|e| {
                    RuntimeError::Inference(format!(
                        "an output of shape {:?} for {} rows of {width} values: {e}",
                        output.shape(),
                        rows.len(),
                    ))
                })?;
        match self.signature.targets {
            Some(targets) => Prediction::from_values(matrix, targets),
            None => Prediction::from_probabilities(matrix.view(), self.classes()),
        }
    }
}

/// The signature an ONNX graph implies (see `graph::GraphInterface::signature`).
pub fn derive_signature(bytes: &[u8]) -> Result<Signature, RuntimeError> {
    let (_, interface) = prepare(bytes)?;
    interface
        .signature()
        .ok_or_else(|| width_not_fixed(&interface))
}

fn width_not_fixed(interface: &GraphInterface) -> RuntimeError {
    let symbolic = interface
        .inputs
        .iter()
        .find(|input| input.width.is_none())
        .map_or("its output", |input| input.name.as_str());
    invalid(format!(
        "{symbolic:?} does not fix its width; declare a signature (features, and classes or targets)"
    ))
}

/// Decodes a graph, replaces its map inputs' `DictVectorizer`s, checks its operators and
/// reads its interface.
fn prepare(bytes: &[u8]) -> Result<(tract_onnx::pb::ModelProto, GraphInterface), RuntimeError> {
    let mut proto = decode(bytes)?;
    let vocabularies = replace_dict_vectorizers(&mut proto)?;
    operators::check_operators(&proto)?;
    let interface = inspect(&proto, &vocabularies)?;
    Ok((proto, interface))
}

fn decode(bytes: &[u8]) -> Result<tract_onnx::pb::ModelProto, RuntimeError> {
    onnx_framework()
        .proto_model_for_read(&mut &*bytes)
        .map_err(|e| invalid(format!("not an ONNX model: {e:#}")))
}

fn signature_to_serve(
    interface: &GraphInterface,
    declared: Option<&Signature>,
) -> Result<Signature, RuntimeError> {
    let policy = if interface.inputs.len() == 1 && interface.inputs[0].names.is_none() {
        NamePolicy::DeclaredNames
    } else {
        NamePolicy::ArtifactNames
    };
    let mut interface = interface.clone();
    // A float output beside no label reads as a regressor; a signature with classes says
    // it is a classifier's probabilities.
    if let (
        Task::Regressor { .. },
        Some(Signature {
            classes: Some(_), ..
        }),
    ) = (&interface.task, declared)
    {
        interface.task = Task::Classifier { classes: None };
    }
    if let Some(derived) = interface.signature() {
        return reconcile_signature(derived, declared, policy);
    }
    let Some(declared) = declared else {
        return Err(width_not_fixed(&interface));
    };
    // Symbolic widths: the declared features fill the inputs, one column each beyond
    // the first input's share.
    let mut filled = interface.clone();
    let fixed: usize = filled.inputs.iter().filter_map(|input| input.width).sum();
    let open = filled
        .inputs
        .iter()
        .filter(|input| input.width.is_none())
        .count();
    let spare = declared.inputs.len().saturating_sub(fixed);
    for input in filled
        .inputs
        .iter_mut()
        .filter(|input| input.width.is_none())
    {
        input.width = Some(if open == 1 { spare } else { 1 });
    }
    if let Task::Regressor { targets: None } = filled.task {
        filled.task = Task::Regressor {
            targets: Some(declared.targets.unwrap_or(1)),
        };
    }
    let derived = filled
        .signature()
        .ok_or_else(|| width_not_fixed(&interface))?;
    reconcile_signature(derived, Some(declared), policy)
}

/// Where each graph input's features sit in a row of the signature.
fn plan_inputs(
    interface: &GraphInterface,
    signature: &Signature,
) -> Result<Vec<PlanInput>, RuntimeError> {
    let mut first = 0;
    let mut inputs = Vec::with_capacity(interface.inputs.len());
    for (index, input) in interface.inputs.iter().enumerate() {
        let width = match input.width {
            Some(width) => width,
            None if interface.inputs.len() == 1 => signature.inputs.len(),
            None => 1,
        };
        inputs.push(PlanInput {
            dtype: input.dtype,
            first,
            width,
        });
        first += width;
        if index + 1 == interface.inputs.len() && first != signature.inputs.len() {
            return Err(RuntimeError::SignatureMismatch(format!(
                "the graph's inputs take {first} features, the signature declares {}",
                signature.inputs.len()
            )));
        }
    }
    Ok(inputs)
}

fn optimised_plan(
    proto: &tract_onnx::pb::ModelProto,
    interface: &GraphInterface,
    inputs: &[PlanInput],
) -> Result<Arc<TypedRunnableModel>, RuntimeError> {
    let mut proto = proto.clone();
    replace_string_labels_with_indices(&mut proto);
    let mut model = onnx_framework()
        .model_for_proto_model(&proto)
        .map_err(|e| invalid(format!("{e:#}")))?;
    model
        .select_outputs_by_name([interface.output.as_str()])
        .map_err(|e| invalid(format!("{e:#}")))?;
    let batch = model.sym("N");
    for (index, input) in inputs.iter().enumerate() {
        let datum_type = match input.dtype {
            DataType::Float32 => f32::datum_type(),
            DataType::Float64 => f64::datum_type(),
            DataType::Int64 => i64::datum_type(),
            DataType::String => String::datum_type(),
        };
        let fact = InferenceFact::dt_shape(datum_type, [batch.to_dim(), input.width.to_dim()]);
        model
            .set_input_fact(index, fact)
            .map_err(|e| invalid(format!("{e:#}")))?;
    }
    model
        .into_optimized()
        .and_then(|model| model.into_runnable())
        .map_err(|e| invalid(format!("{e:#}")))
}

/// The served output's width (classes or targets), when the optimised graph fixes it.
fn output_width(
    plan: &TypedRunnableModel,
    interface: &GraphInterface,
) -> Result<Option<usize>, RuntimeError> {
    let model = plan.model();
    let outlet = *model
        .output_outlets()
        .map_err(|e| invalid(format!("{e:#}")))?
        .first()
        .ok_or_else(|| invalid("the optimised graph has no output"))?;
    let fact = model
        .outlet_fact(outlet)
        .map_err(|e| invalid(format!("{e:#}")))?;
    match (fact.rank(), &interface.task) {
        (1, Task::Regressor { .. }) => Ok(Some(1)),
        (2, _) => Ok(fact.shape[1]
            .as_i64()
            .and_then(|width| usize::try_from(width).ok())),
        (_, Task::Classifier { .. }) => Err(invalid(format!(
            "the probability output must have shape [rows, classes], it has {:?}",
            fact.shape
        ))),
        _ => Err(invalid(format!(
            "the output must have shape [rows] or [rows, targets], it has {:?}",
            fact.shape
        ))),
    }
}

/// A regressor's targets: the graph's output width, else the declared count, else 1.
fn targets_to_serve(signature: &Signature, width: Option<usize>) -> Result<usize, RuntimeError> {
    match (signature.targets, width) {
        (Some(declared), Some(width)) if declared != width => Err(invalid(format!(
            "the graph predicts {width} values per row, the signature declares {declared} targets"
        ))),
        (_, Some(width)) => Ok(width),
        (Some(declared), None) => Ok(declared),
        (None, None) => Ok(1),
    }
}

/// Classes from the graph, else from the declared signature, else `0..width`.
fn classes_to_serve(
    interface: &GraphInterface,
    signature: &Signature,
    width: Option<usize>,
) -> Result<Vec<ClassLabel>, RuntimeError> {
    let classes = match (&signature.classes, width) {
        (Some(classes), _) => classes.clone(),
        (None, Some(width)) => (0..width as i64).map(ClassLabel::Int).collect(),
        (None, None) => {
            return Err(invalid(
                "the graph names no class labels and its probability output has no fixed width",
            ))
        }
    };
    if classes.len() < 2 {
        let source = match &interface.task {
            Task::Classifier { classes: Some(_) } => "graph",
            _ => "model",
        };
        return Err(invalid(format!(
            "a classifier needs at least two classes, the {source} has {}",
            classes.len()
        )));
    }
    if let Some(width) = width.filter(|width| *width != classes.len()) {
        return Err(invalid(format!(
            "the graph outputs {width} probabilities per row for {} class labels",
            classes.len()
        )));
    }
    Ok(classes)
}

/// Why a call into tract did not return.
#[derive(Debug)]
struct TractPanicked(String);

impl std::fmt::Display for TractPanicked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "tract panicked: {}", self.0)
    }
}

/// Runs `work`, turning a panic into an error.
fn without_panics<T>(work: impl FnOnce() -> T) -> Result<T, TractPanicked> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).map_err(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("no message");
        TractPanicked(message.to_string())
    })
}
