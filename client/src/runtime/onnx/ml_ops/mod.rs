//! `ai.onnx.ml` operators that tract-onnx 0.23 does not provide (or provides only in
//! part), registered with its ONNX op registry the way tract registers its own
//! (`LinearClassifier`, `LinearRegressor`, `Normalizer`, `ArrayFeatureExtractor`, which
//! are tract's):
//!
//! - `TreeEnsembleClassifier`, `TreeEnsembleRegressor` (`trees`, `tree_ops`): every
//!   aggregate, post-transform and branch mode, float and double attributes.
//! - `OneHotEncoder`, `LabelEncoder` (`encoders`): the operators that read strings.
//! - `Imputer`, `Binarizer` (`imputer`).
//! - `FeatureVectorizer` (`vectorizer`): several inputs concatenated into one row.
//! - `Scaler`: `y = (x - offset) * scale`, per feature or broadcast, as `f32` — what
//!   skl2onnx emits for `StandardScaler`.
//! - `ZipMap`: turns a `[N, C]` probability tensor into a sequence of `{label: p}` maps.
//!   tract has no sequence or map types, so it is registered as its dense equivalent: the
//!   `[N, C]` tensor itself, column `j` standing for the `j`-th class label. The labels are
//!   read from the graph by `graph.rs`, which maps columns back to them.
//!
//! This module only builds operators; choosing outputs and reading labels is `graph.rs`'s.

use tract_onnx::model::{OnnxOpRegister, ParsingContext};
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_core::ops::change_axes::wire_with_rank_broadcast;
use tract_onnx::tract_core::ops::identity::Identity;
use tract_onnx::tract_core::ops::math::{mul, sub};
use tract_onnx::tract_hir::internal::*;

/// `Eq` and `Op` for a Capstan operator named `$name` that evaluates itself (its
/// `EvalOp` and `TypedOp` are its own).
macro_rules! capstan_op {
    ($type:ty, $name:literal) => {
        // Floats compare as `PartialEq` does; tract only needs `Eq` to dedupe equal nodes.
        impl Eq for $type {}

        impl Op for $type {
            fn name(&self) -> StaticName {
                $name.into()
            }

            op_as_typed_op!();
        }
    };
}

mod attributes;
mod encoders;
mod imputer;
mod transforms;
mod tree_ops;
mod trees;
mod vectorizer;

/// Adds Capstan's `ai.onnx.ml` operators to an ONNX op registry (replacing tract's
/// `TreeEnsembleClassifier`).
pub fn register_ml_ops(registry: &mut OnnxOpRegister) {
    registry.insert("Scaler", scaler);
    registry.insert("ZipMap", zip_map);
    registry.insert("TreeEnsembleClassifier", tree_ops::tree_classifier);
    registry.insert("TreeEnsembleRegressor", tree_ops::tree_regressor);
    registry.insert("OneHotEncoder", encoders::one_hot_encoder);
    registry.insert("LabelEncoder", encoders::label_encoder);
    registry.insert("Imputer", imputer::imputer);
    registry.insert("Binarizer", imputer::binarizer);
    registry.insert("FeatureVectorizer", vectorizer::feature_vectorizer);
}

/// Inference rules of an element-wise operator: one input, one output of its type and
/// shape.
fn same_type_and_shape<'r, 'p: 'r>(
    s: &mut Solver<'r>,
    inputs: &'p [TensorProxy],
    outputs: &'p [TensorProxy],
) -> InferenceResult {
    check_input_arity(inputs, 1)?;
    check_output_arity(outputs, 1)?;
    s.equals(&inputs[0].datum_type, &outputs[0].datum_type)?;
    s.equals(&inputs[0].shape, &outputs[0].shape)
}

/// ONNX `ai.onnx.ml.Scaler`.
#[derive(Clone, Debug)]
struct Scaler {
    /// Rank 1, length 1 or one per feature.
    offset: Arc<Tensor>,
    /// Rank 1, length 1 or one per feature.
    scale: Arc<Tensor>,
}

fn scaler(
    _ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let offset: Vec<f32> = node
        .get_attr_opt_vec("offset")?
        .unwrap_or_else(|| vec![0.0]);
    let scale: Vec<f32> = node.get_attr_opt_vec("scale")?.unwrap_or_else(|| vec![1.0]);
    node.expect(!offset.is_empty(), "offset is not empty")?;
    node.expect(!scale.is_empty(), "scale is not empty")?;
    Ok((
        expand(Scaler {
            offset: rctensor1(&offset),
            scale: rctensor1(&scale),
        }),
        vec![],
    ))
}

impl Scaler {
    /// The feature count the attributes imply, unless both are broadcast scalars.
    fn feature_count(&self) -> Option<usize> {
        [self.offset.len(), self.scale.len()]
            .into_iter()
            .find(|len| *len > 1)
    }
}

impl Expansion for Scaler {
    fn name(&self) -> StaticName {
        "Scaler".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, DatumType::F32)?;
        s.equals(&inputs[0].shape, &outputs[0].shape)?;
        if let Some(features) = self.feature_count() {
            s.given(&inputs[0].rank, move |s, rank| {
                let last = (rank as usize).saturating_sub(1);
                s.equals(&inputs[0].shape[last], features.to_dim())
            })?;
        }
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let mut x = inputs[0];
        if model.outlet_fact(x)?.datum_type != f32::datum_type() {
            x = model.wire_node(
                format!("{prefix}.to_f32"),
                tract_onnx::tract_core::ops::cast::cast(f32::datum_type()),
                &[x],
            )?[0];
        }
        let offset = model.add_const(format!("{prefix}.offset"), self.offset.clone())?;
        let scale = model.add_const(format!("{prefix}.scale"), self.scale.clone())?;
        let centred =
            wire_with_rank_broadcast(format!("{prefix}.sub_offset"), model, sub(), &[x, offset])?;
        wire_with_rank_broadcast(
            format!("{prefix}.mul_scale"),
            model,
            mul(),
            &[centred[0], scale],
        )
    }
}

/// ONNX `ai.onnx.ml.ZipMap`, as its dense `[N, C]` equivalent.
#[derive(Clone, Debug)]
struct DenseZipMap {
    label_count: usize,
}

fn zip_map(
    _ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let ints = node.get_attr_opt_slice::<i64>("classlabels_int64s")?;
    let strings = node.get_attr_opt_tvec::<&str>("classlabels_strings")?;
    let label_count = match (ints, strings) {
        (Some(ints), None) => ints.len(),
        (None, Some(strings)) => strings.len(),
        _ => bail!("ZipMap needs exactly one of classlabels_int64s and classlabels_strings"),
    };
    Ok((expand(DenseZipMap { label_count }), vec![]))
}

impl Expansion for DenseZipMap {
    fn name(&self) -> StaticName {
        "ZipMap".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        s.equals(&inputs[0].rank, 2)?;
        s.equals(&inputs[0].shape[1], self.label_count.to_dim())?;
        s.equals(&inputs[0].datum_type, &outputs[0].datum_type)?;
        s.equals(&inputs[0].shape, &outputs[0].shape)?;
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        model.wire_node(prefix, Identity, inputs)
    }
}

#[cfg(test)]
mod tests {
    use tract_onnx::pb::attribute_proto::AttributeType;
    use tract_onnx::pb::tensor_proto::DataType as OnnxType;
    use tract_onnx::pb::tensor_shape_proto::{dimension, Dimension};
    use tract_onnx::pb::type_proto::{Tensor as TensorType, Value};
    use tract_onnx::pb::{
        AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorShapeProto,
        TypeProto, ValueInfoProto,
    };
    use tract_onnx::prelude::*;

    use super::super::onnx_framework;

    fn matrix_info(name: &str, elem_type: OnnxType, width: i64) -> ValueInfoProto {
        let dims = [None, Some(width)].map(|value| Dimension {
            value: value.map(dimension::Value::DimValue),
            ..Default::default()
        });
        ValueInfoProto {
            name: name.into(),
            r#type: Some(TypeProto {
                value: Some(Value::TensorType(TensorType {
                    elem_type: elem_type as i32,
                    shape: Some(TensorShapeProto { dim: dims.to_vec() }),
                })),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn floats(name: &str, values: &[f32]) -> AttributeProto {
        AttributeProto {
            name: name.into(),
            r#type: AttributeType::Floats as i32,
            floats: values.to_vec(),
            ..Default::default()
        }
    }

    fn ints(name: &str, values: &[i64]) -> AttributeProto {
        AttributeProto {
            name: name.into(),
            r#type: AttributeType::Ints as i32,
            ints: values.to_vec(),
            ..Default::default()
        }
    }

    fn one_node_model(op: &str, attribute: Vec<AttributeProto>, input: OnnxType) -> ModelProto {
        ModelProto {
            ir_version: 8,
            opset_import: vec![
                OperatorSetIdProto {
                    domain: String::new(),
                    version: 13,
                },
                OperatorSetIdProto {
                    domain: "ai.onnx.ml".into(),
                    version: 1,
                },
            ],
            graph: Some(GraphProto {
                node: vec![NodeProto {
                    op_type: op.into(),
                    domain: "ai.onnx.ml".into(),
                    input: vec!["x".into()],
                    output: vec!["y".into()],
                    attribute,
                    ..Default::default()
                }],
                input: vec![matrix_info("x", input, 3)],
                output: vec![ValueInfoProto {
                    name: "y".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn run(model: &ModelProto, input: Tensor) -> TractResult<Vec<f32>> {
        let fact = InferenceFact::dt_shape(input.datum_type(), input.shape());
        let plan = onnx_framework()
            .model_for_proto_model(model)?
            .with_input_fact(0, fact)?
            .into_optimized()?
            .into_runnable()?;
        let outputs = plan.run(tvec!(input.into_tvalue()))?;
        Ok(outputs[0]
            .to_plain_array_view::<f32>()?
            .iter()
            .copied()
            .collect())
    }

    #[test]
    fn scaler_applies_per_feature_offset_and_scale() {
        let model = one_node_model(
            "Scaler",
            vec![
                floats("offset", &[1.0, 2.0, 3.0]),
                floats("scale", &[2.0, 0.5, -1.0]),
            ],
            OnnxType::Float,
        );
        let x = Tensor::from_shape(&[2, 3], &[1f32, 2.0, 3.0, 3.0, 6.0, 0.0]).unwrap();
        assert_eq!(run(&model, x).unwrap(), [0.0, 0.0, 0.0, 4.0, 2.0, 3.0]);
    }

    #[test]
    fn scaler_broadcasts_single_values_and_casts_doubles() {
        let model = one_node_model(
            "Scaler",
            vec![floats("offset", &[1.0]), floats("scale", &[10.0])],
            OnnxType::Double,
        );
        let x = Tensor::from_shape(&[1, 3], &[1f64, 2.0, 3.5]).unwrap();
        assert_eq!(run(&model, x).unwrap(), [0.0, 10.0, 25.0]);
    }

    #[test]
    fn scaler_refuses_a_feature_count_its_attributes_contradict() {
        let model = one_node_model(
            "Scaler",
            vec![floats("offset", &[1.0, 2.0])],
            OnnxType::Float,
        );
        let x = Tensor::from_shape(&[1, 3], &[1f32, 2.0, 3.0]).unwrap();
        let error = format!("{:#}", run(&model, x).unwrap_err());
        assert!(error.contains("Impossible to unify"), "{error}");
    }

    #[test]
    fn zip_map_is_the_dense_probability_matrix() {
        let model = one_node_model(
            "ZipMap",
            vec![ints("classlabels_int64s", &[4, 5, 6])],
            OnnxType::Float,
        );
        let x = Tensor::from_shape(&[1, 3], &[0.2f32, 0.3, 0.5]).unwrap();
        assert_eq!(run(&model, x).unwrap(), [0.2, 0.3, 0.5]);

        let two_labels = one_node_model(
            "ZipMap",
            vec![ints("classlabels_int64s", &[4, 5])],
            OnnxType::Float,
        );
        let x = Tensor::from_shape(&[1, 3], &[0.2f32, 0.3, 0.5]).unwrap();
        assert!(
            run(&two_labels, x).is_err(),
            "3 columns cannot carry 2 labels"
        );
    }
}
