//! ONNX `ai.onnx.ml.FeatureVectorizer`: concatenates its inputs' features into one float
//! row, input `i` contributing exactly `inputdimensions[i]` columns (its last dimension
//! cut or padded with zeros to that width). skl2onnx writes it when a scaler, imputer,
//! normalizer or binarizer reads several graph inputs at once.

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::attributes::ints;

/// ONNX `ai.onnx.ml.FeatureVectorizer`.
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureVectorizer {
    /// Columns each input contributes.
    dimensions: Vec<usize>,
}

pub fn feature_vectorizer(
    _ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let dimensions = ints(node, "inputdimensions")?
        .into_iter()
        .map(|d| usize::try_from(d).map_err(|_| format_err!("a negative input dimension")))
        .collect::<TractResult<Vec<usize>>>()?;
    ensure!(
        dimensions.len() == node.input.len(),
        "inputdimensions has {} entries for {} inputs",
        dimensions.len(),
        node.input.len()
    );
    ensure!(
        dimensions.iter().sum::<usize>() > 0,
        "FeatureVectorizer produces no feature"
    );
    Ok((expand(FeatureVectorizer { dimensions }), vec![]))
}

impl FeatureVectorizer {
    fn width(&self) -> usize {
        self.dimensions.iter().sum()
    }
}

impl Expansion for FeatureVectorizer {
    fn name(&self) -> StaticName {
        "FeatureVectorizer".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, self.dimensions.len())?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, DatumType::F32)?;
        s.equals(&outputs[0].rank, 2)?;
        s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
        s.equals(&outputs[0].shape[1], self.width().to_dim())
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

capstan_op!(FeatureVectorizer, "FeatureVectorizer");

impl EvalOp for FeatureVectorizer {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let rows = inputs
            .first()
            .map_or(0, |input| input.shape().first().copied().unwrap_or(1));
        let width = self.width();
        let mut output = vec![0f32; rows * width];
        let mut offset = 0;
        for (input, &dimension) in inputs.iter().zip(&self.dimensions) {
            let values = input.cast_to::<f32>()?;
            let values = values.try_as_plain_ram()?.as_slice::<f32>()?;
            ensure!(
                rows > 0 && values.len().is_multiple_of(rows),
                "FeatureVectorizer inputs of {} values for {rows} rows",
                values.len()
            );
            let columns = values.len() / rows;
            for (row, source) in values.chunks_exact(columns).enumerate() {
                let start = row * width + offset;
                let copied = columns.min(dimension);
                output[start..start + copied].copy_from_slice(&source[..copied]);
            }
            offset += dimension;
        }
        Ok(tvec!(tract_ndarray::Array2::from_shape_vec(
            (rows, width),
            output
        )?
        .into_tvalue()))
    }
}

impl TypedOp for FeatureVectorizer {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let rows = inputs[0].shape[0].clone();
        Ok(tvec!(f32::fact([rows, self.width().to_dim()])))
    }

    as_op!();
}
