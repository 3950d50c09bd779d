//! The `onnx` format: a `Predictor` over a classifier graph run by tract.
//!
//! Loading reads the graph's interface from the proto (`graph`), parses it with tract's
//! ONNX framework plus Capstan's `ai.onnx.ml` operators (`ml_ops`), keeps only the
//! probability output (so label outputs, string-typed or not, are never computed), fixes
//! the input to `[N, features]` with a symbolic batch size, and optimises it once. Rows
//! arrive as `f64` and are converted to the graph's input type at the tract boundary;
//! no ndarray type of tract's leaks out of this module.
//!
//! Artifacts come from users: tract can panic on some malformed graphs, so every call into
//! it runs under `catch_unwind` and a panic becomes an error, never a crashed host.

mod graph;
mod ml_ops;

pub use ml_ops::register_ml_ops;

use std::sync::Arc;

use ndarray::ArrayView2;
use tract_onnx::prelude::*;

use self::graph::{inspect, invalid, replace_string_labels_with_indices, GraphInterface};
use super::{check_rows, reconcile_signature, NamePolicy, Prediction, Predictor, RuntimeError};
use crate::signature::{ClassLabel, DataType, Signature};

/// tract's ONNX framework with Capstan's `ai.onnx.ml` operators registered.
pub fn onnx_framework() -> tract_onnx::Onnx {
    let mut framework = tract_onnx::onnx();
    register_ml_ops(&mut framework.op_register);
    framework
}

/// Serves an ONNX classifier.
pub struct OnnxPredictor {
    plan: Arc<TypedRunnableModel>,
    input_type: DataType,
    signature: Signature,
    classes: Vec<ClassLabel>,
}

impl std::fmt::Debug for OnnxPredictor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxPredictor")
            .field("signature", &self.signature)
            .field("classes", &self.classes)
            .finish_non_exhaustive()
    }
}

impl OnnxPredictor {
    /// Loads a graph. A declared signature names the features (the graph's `f0…` are
    /// placeholders); its feature count, input tensor and classes must match the graph's.
    pub fn from_bytes(bytes: &[u8], declared: Option<&Signature>) -> Result<Self, RuntimeError> {
        let proto = decode(bytes)?;
        let interface = inspect(&proto)?;
        let signature = signature_to_serve(&interface, declared)?;
        let features = signature.inputs.len();
        let plan =
            without_panics(|| optimised_plan(&proto, &interface, features)).map_err(invalid)??;
        let width = probability_width(&plan)?;
        let classes = classes_to_serve(&interface, &signature, width)?;
        Ok(OnnxPredictor {
            plan,
            input_type: interface.input_type,
            signature,
            classes,
        })
    }

    /// The rows as a tensor of the graph's input type, converted in one pass.
    fn input_tensor(&self, rows: ArrayView2<f64>) -> Result<Tensor, RuntimeError> {
        let fill = || -> TractResult<Tensor> {
            let shape = [rows.nrows(), rows.ncols()];
            match self.input_type {
                DataType::Float32 => {
                    let mut tensor = Tensor::zero::<f32>(&shape)?;
                    let mut view = tensor.to_plain_array_view_mut::<f32>()?;
                    for (out, x) in view.iter_mut().zip(rows) {
                        *out = *x as f32;
                    }
                    Ok(tensor)
                }
                DataType::Float64 => {
                    let mut tensor = Tensor::zero::<f64>(&shape)?;
                    let mut view = tensor.to_plain_array_view_mut::<f64>()?;
                    for (out, x) in view.iter_mut().zip(rows) {
                        *out = *x;
                    }
                    Ok(tensor)
                }
            }
        };
        fill().map_err(|e| RuntimeError::Inference(format!("building the input tensor: {e:#}")))
    }
}

impl Predictor for OnnxPredictor {
    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn classes(&self) -> &[ClassLabel] {
        &self.classes
    }

    fn predict(&self, rows: ArrayView2<f64>) -> Result<Prediction, RuntimeError> {
        check_rows(rows, &self.signature)?;
        let input = self.input_tensor(rows)?;
        let outputs = without_panics(|| self.plan.run(tvec!(input.into_tvalue())))
            .map_err(|e| RuntimeError::Inference(e.to_string()))?
            .map_err(|e| RuntimeError::Inference(format!("{e:#}")))?;
        let probabilities = outputs
            .first()
            .ok_or_else(|| RuntimeError::Inference("the graph produced no output".into()))?;
        let probabilities = probabilities
            .cast_to::<f64>()
            .map_err(|e| RuntimeError::Inference(format!("reading probabilities: {e:#}")))?;
        let probabilities = probabilities
            .to_plain_array_view::<f64>()
            .map_err(|e| RuntimeError::Inference(format!("reading probabilities: {e:#}")))?;
        let matrix = ndarray::Array2::from_shape_vec(
            (rows.nrows(), self.classes.len()),
            probabilities.iter().copied().collect(),
        )
        .map_err(|e| {
            RuntimeError::Inference(format!(
                "probabilities of shape {:?} for {} rows and {} classes: {e}",
                probabilities.shape(),
                rows.nrows(),
                self.classes.len()
            ))
        })?;
        Prediction::from_probabilities(matrix.view(), &self.classes)
    }
}

/// The signature an ONNX graph implies (see `graph::GraphInterface::signature`).
pub fn derive_signature(bytes: &[u8]) -> Result<Signature, RuntimeError> {
    let interface = inspect(&decode(bytes)?)?;
    interface
        .signature()
        .ok_or_else(|| width_not_fixed(&interface))
}

fn width_not_fixed(interface: &GraphInterface) -> RuntimeError {
    invalid(format!(
        "input {:?} does not fix its number of features; declare a signature",
        interface.input_name
    ))
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
    match (interface.signature(), declared) {
        (Some(derived), declared) => {
            reconcile_signature(derived, declared, NamePolicy::DeclaredNames)
        }
        (None, Some(declared)) => {
            let mut derived = declared.clone();
            for feature in &mut derived.inputs {
                feature.dtype = interface.input_type;
            }
            derived.input_tensor = Some(interface.input_name.clone());
            derived.classes.clone_from(&interface.classes);
            reconcile_signature(derived, Some(declared), NamePolicy::DeclaredNames)
        }
        (None, None) => Err(width_not_fixed(interface)),
    }
}

fn optimised_plan(
    proto: &tract_onnx::pb::ModelProto,
    interface: &GraphInterface,
    features: usize,
) -> Result<Arc<TypedRunnableModel>, RuntimeError> {
    let mut proto = proto.clone();
    replace_string_labels_with_indices(&mut proto);
    let mut model = onnx_framework()
        .model_for_proto_model(&proto)
        .map_err(|e| invalid(format!("{e:#}")))?;
    model
        .select_outputs_by_name([interface.probability_output.as_str()])
        .map_err(|e| invalid(format!("{e:#}")))?;
    let batch = model.sym("N");
    let datum_type = match interface.input_type {
        DataType::Float32 => f32::datum_type(),
        DataType::Float64 => f64::datum_type(),
    };
    let input_fact = InferenceFact::dt_shape(datum_type, [batch.to_dim(), features.to_dim()]);
    model
        .with_input_fact(0, input_fact)
        .and_then(|model| model.into_optimized())
        .and_then(|model| model.into_runnable())
        .map_err(|e| invalid(format!("{e:#}")))
}

/// The number of probability columns, when the optimised graph fixes it.
fn probability_width(plan: &TypedRunnableModel) -> Result<Option<usize>, RuntimeError> {
    let model = plan.model();
    let outlet = *model
        .output_outlets()
        .map_err(|e| invalid(format!("{e:#}")))?
        .first()
        .ok_or_else(|| invalid("the optimised graph has no output"))?;
    let fact = model
        .outlet_fact(outlet)
        .map_err(|e| invalid(format!("{e:#}")))?;
    if fact.rank() != 2 {
        return Err(invalid(format!(
            "the probability output must have shape [rows, classes], it has {:?}",
            fact.shape
        )));
    }
    Ok(fact.shape[1]
        .as_i64()
        .and_then(|width| usize::try_from(width).ok()))
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
        return Err(invalid(format!(
            "a classifier needs at least two classes, the {} has {}",
            if interface.classes.is_some() {
                "graph"
            } else {
                "model"
            },
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
