//! `ai.onnx.ml.TreeEnsembleClassifier` and `TreeEnsembleRegressor` as tract operators over
//! Capstan's tree engine (`trees.rs`). tract 0.23 has a classifier of its own, but it
//! lacks double thresholds, SOFTMAX_ZERO and PROBIT and reads base values differently for
//! binary models, so both operators are Capstan's and answer alike.
//!
//! The classifier's outputs are the labels (`int64`: string labels were replaced by their
//! indices before parsing, see `graph.rs`) and the `[N, classes]` scores; the regressor's
//! is `[N, targets]`. Scores are `float` as the spec says; the engine computes in `f64`.

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::attributes::{ints, strings};
use super::trees::{Ensemble, Kind};

/// A tree ensemble as a typed tract operator.
#[derive(Clone, Debug, PartialEq)]
pub struct TreeEnsemble {
    name: &'static str,
    ensemble: Arc<Ensemble>,
    /// Classifiers: the label of each class (integer labels or class indices).
    labels: Option<Vec<i64>>,
}

pub fn tree_classifier(
    _ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let int_labels = ints(node, "classlabels_int64s")?;
    let string_labels = strings(node, "classlabels_strings")?;
    let labels = match (int_labels.is_empty(), string_labels.is_empty()) {
        (false, true) => int_labels,
        (true, false) => (0..string_labels.len() as i64).collect(),
        _ => bail!("exactly one of classlabels_int64s and classlabels_strings must be set"),
    };
    let ensemble = Ensemble::from_node(
        node,
        Kind::Classifier {
            classes: labels.len(),
        },
    )?;
    Ok((
        expand(TreeEnsemble {
            name: "TreeEnsembleClassifier",
            ensemble: Arc::new(ensemble),
            labels: Some(labels),
        }),
        vec![],
    ))
}

pub fn tree_regressor(
    _ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let ensemble = Ensemble::from_node(node, Kind::Regressor)?;
    Ok((
        expand(TreeEnsemble {
            name: "TreeEnsembleRegressor",
            ensemble: Arc::new(ensemble),
            labels: None,
        }),
        vec![],
    ))
}

impl Expansion for TreeEnsemble {
    fn name(&self) -> StaticName {
        self.name.into()
    }

    fn nboutputs(&self) -> TractResult<usize> {
        Ok(if self.labels.is_some() { 2 } else { 1 })
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, self.nboutputs()?)?;
        s.equals(&inputs[0].rank, 2)?;
        let scores = outputs.last().expect("one output at least");
        s.equals(&scores.datum_type, DatumType::F32)?;
        s.equals(&scores.rank, 2)?;
        s.equals(&scores.shape[0], &inputs[0].shape[0])?;
        s.equals(&scores.shape[1], self.ensemble.width().to_dim())?;
        if self.labels.is_some() {
            s.equals(&outputs[0].datum_type, DatumType::I64)?;
            s.equals(&outputs[0].rank, 1)?;
            s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
        }
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        model.wire_node(prefix, self.clone(), inputs)
    }
}

// Floats compare as `PartialEq` does; tract only needs `Eq` to dedupe equal nodes.
impl Eq for TreeEnsemble {}

impl Op for TreeEnsemble {
    fn name(&self) -> StaticName {
        self.name.into()
    }

    op_as_typed_op!();
}

impl EvalOp for TreeEnsemble {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let shape = input.shape();
        ensure!(shape.len() == 2, "a tree ensemble takes [rows, features]");
        let (rows, features) = (shape[0], shape[1]);
        ensure!(
            features >= self.ensemble.min_features(),
            "the trees read feature {} of rows with {features}",
            self.ensemble.min_features() - 1
        );
        let width = self.ensemble.width();
        let mut scores = vec![0f64; rows * width];
        match input.datum_type() {
            DatumType::F32 => self.ensemble.score(
                input.try_as_plain_ram()?.as_slice::<f32>()?,
                features,
                &mut scores,
            ),
            DatumType::F64 => self.ensemble.score(
                input.try_as_plain_ram()?.as_slice::<f64>()?,
                features,
                &mut scores,
            ),
            _ => {
                let input = input.cast_to::<f64>()?;
                self.ensemble.score(
                    input.try_as_plain_ram()?.as_slice::<f64>()?,
                    features,
                    &mut scores,
                )
            }
        }
        let output = tract_ndarray::Array2::from_shape_vec(
            (rows, width),
            scores.iter().map(|s| *s as f32).collect(),
        )?;
        let Some(labels) = &self.labels else {
            return Ok(tvec!(output.into_tvalue()));
        };
        let winners: Vec<i64> = scores
            .chunks_exact(width.max(1))
            .map(|row| labels[crate::runtime::index_of_max(row.iter().copied())])
            .collect();
        Ok(tvec!(
            tract_ndarray::Array1::from(winners).into_tvalue(),
            output.into_tvalue()
        ))
    }
}

impl TypedOp for TreeEnsemble {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let rows = inputs[0].shape[0].clone();
        let scores = f32::fact([rows.clone(), self.ensemble.width().to_dim()]);
        Ok(match self.labels {
            Some(_) => tvec!(i64::fact([rows]), scores),
            None => tvec!(scores),
        })
    }

    as_op!();
}
