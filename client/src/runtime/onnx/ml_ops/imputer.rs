//! Element-wise `ai.onnx.ml` operators: `Imputer` (replaces a missing marker — NaN by
//! default for skl2onnx's `SimpleImputer` — with a per-column value) and `Binarizer`
//! (`x > threshold` as 1, else 0). Both keep the input's type and shape.

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::attributes::{floats, ints};
use super::same_type_and_shape;

/// ONNX `ai.onnx.ml.Imputer`.
#[derive(Clone, Debug, PartialEq)]
pub struct Imputer {
    /// One value per column, or one for all.
    floats: Vec<f32>,
    ints: Vec<i64>,
    replaced_float: f32,
    replaced_int: i64,
}

pub fn imputer(
    _ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let imputer = Imputer {
        floats: floats(node, "imputed_value_floats")?,
        ints: ints(node, "imputed_value_int64s")?,
        replaced_float: floats(node, "replaced_value_float")?.pop().unwrap_or(0.0),
        replaced_int: ints(node, "replaced_value_int64")?.pop().unwrap_or(0),
    };
    ensure!(
        imputer.floats.is_empty() != imputer.ints.is_empty(),
        "exactly one of imputed_value_floats and imputed_value_int64s must be set"
    );
    Ok((expand(imputer), vec![]))
}

/// The imputed value of `column` from per-column (or one shared) values.
fn value_for<T: Copy>(values: &[T], column: usize) -> T {
    if values.len() == 1 {
        values[0]
    } else {
        values[column]
    }
}

impl Imputer {
    fn columns(&self) -> usize {
        self.floats.len().max(self.ints.len())
    }

    /// Imputes a float or double tensor, comparing in `f64` (NaN matches NaN).
    fn impute_floats<T: Datum + Copy + Into<f64>>(
        &self,
        input: &Tensor,
        columns: usize,
        from_f32: fn(f32) -> T,
    ) -> TractResult<Tensor> {
        let mut output = input.clone();
        let replaced = f64::from(self.replaced_float);
        let mut view = output.to_plain_array_view_mut::<T>()?;
        for (index, x) in view.iter_mut().enumerate() {
            let value: f64 = (*x).into();
            let missing = if replaced.is_nan() {
                value.is_nan()
            } else {
                value == replaced
            };
            if missing {
                *x = from_f32(value_for(&self.floats, index % columns));
            }
        }
        Ok(output)
    }
}

impl Expansion for Imputer {
    fn name(&self) -> StaticName {
        "Imputer".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        same_type_and_shape(s, inputs, outputs)
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let fact = model.outlet_fact(inputs[0])?;
        if self.columns() > 1 {
            let last = fact.shape.last().and_then(|d| d.to_usize().ok());
            ensure!(
                last == Some(self.columns()),
                "Imputer has {} values for rows of {:?}",
                self.columns(),
                fact.shape
            );
        }
        model.wire_node(prefix, self.clone(), inputs)
    }
}

capstan_op!(Imputer, "Imputer");

impl EvalOp for Imputer {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let columns = input.shape().last().copied().unwrap_or(1).max(1);
        let output = match input.datum_type() {
            DatumType::F32 if !self.floats.is_empty() => {
                self.impute_floats(&input, columns, |x| x)?
            }
            DatumType::F64 if !self.floats.is_empty() => {
                self.impute_floats(&input, columns, f64::from)?
            }
            DatumType::I64 | DatumType::I32 if !self.ints.is_empty() => {
                let mut output = input.cast_to::<i64>()?.into_owned();
                let mut view = output.to_plain_array_view_mut::<i64>()?;
                for (index, x) in view.iter_mut().enumerate() {
                    if *x == self.replaced_int {
                        *x = value_for(&self.ints, index % columns);
                    }
                }
                output.cast_to_dt(input.datum_type())?.into_owned()
            }
            other => bail!("Imputer cannot impute a {other:?} tensor with its values"),
        };
        Ok(tvec!(output.into_tvalue()))
    }
}

impl TypedOp for Imputer {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(inputs[0].without_value()))
    }

    as_op!();
}

/// ONNX `ai.onnx.ml.Binarizer`.
#[derive(Clone, Debug, PartialEq)]
pub struct Binarizer {
    threshold: f32,
}

pub fn binarizer(
    _ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let threshold = floats(node, "threshold")?.pop().unwrap_or(0.0);
    Ok((expand(Binarizer { threshold }), vec![]))
}

impl Expansion for Binarizer {
    fn name(&self) -> StaticName {
        "Binarizer".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        same_type_and_shape(s, inputs, outputs)
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

capstan_op!(Binarizer, "Binarizer");

impl EvalOp for Binarizer {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let dt = input.datum_type();
        let values = input.cast_to::<f64>()?;
        let threshold = f64::from(self.threshold);
        let binary =
            values
                .to_plain_array_view::<f64>()?
                .mapv(|x| if x > threshold { 1.0 } else { 0.0 });
        Ok(tvec!(binary
            .into_tensor()
            .cast_to_dt(dt)?
            .into_owned()
            .into_tvalue()))
    }
}

impl TypedOp for Binarizer {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(inputs[0].without_value()))
    }

    as_op!();
}
