//! Categorical encoders of `ai.onnx.ml`, the operators that read string tensors:
//!
//! - `OneHotEncoder`: each value becomes a one-hot row over `cats_strings` (or
//!   `cats_int64s`, for numbers cast to integers); the output gains a last axis of that
//!   length. An unknown category is all zeros (`zeros = 1`, the default) or an error.
//! - `LabelEncoder`: maps keys to values through the v2 attributes (`keys_*`, `values_*`,
//!   `default_*`), or v1's `classes_strings` (string ↔ index).
//!
//! Both are typed tract operators with their own `eval`: tract carries `String` tensors
//! between operators but has no string kernels of its own.

use std::collections::HashMap;

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::attributes::{floats, ints, strings};

/// A category key: a string or an integer (floats are compared by their bits).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    Text(String),
    Int(i64),
}

/// The keys of the elements of `input`, in order: strings, else integers (`float` inputs
/// by their bits when `float_bits`, else cast to integers as OneHotEncoder does).
fn keys_of(input: &Tensor, float_bits: bool) -> TractResult<Vec<Key>> {
    Ok(match input.datum_type() {
        DatumType::String => input
            .try_as_plain_ram()?
            .as_slice::<String>()?
            .iter()
            .map(|s| Key::Text(s.clone()))
            .collect(),
        DatumType::F32 if float_bits => input
            .try_as_plain_ram()?
            .as_slice::<f32>()?
            .iter()
            .map(|x| Key::Int(f32_key(*x)))
            .collect(),
        _ => input
            .cast_to::<i64>()?
            .try_as_plain_ram()?
            .as_slice::<i64>()?
            .iter()
            .map(|x| Key::Int(*x))
            .collect(),
    })
}

fn f32_key(x: f32) -> i64 {
    i64::from(x.to_bits())
}

/// ONNX `ai.onnx.ml.OneHotEncoder`.
#[derive(Clone, Debug, PartialEq)]
pub struct OneHotEncoder {
    /// Category → position in the one-hot row.
    categories: HashMap<Key, usize>,
    width: usize,
    /// Whether an unknown category is all zeros (else an error).
    zeros: bool,
    /// Categories are strings (else integers).
    strings: bool,
}

pub fn one_hot_encoder(
    _ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let texts = strings(node, "cats_strings")?;
    let numbers = ints(node, "cats_int64s")?;
    let (keys, strings): (Vec<Key>, bool) = match (texts.is_empty(), numbers.is_empty()) {
        (false, true) => (texts.into_iter().map(Key::Text).collect(), true),
        (true, false) => (numbers.into_iter().map(Key::Int).collect(), false),
        _ => bail!("exactly one of cats_strings and cats_int64s must be set"),
    };
    let width = keys.len();
    let categories = keys
        .into_iter()
        .enumerate()
        .map(|(position, key)| (key, position))
        .collect();
    let zeros = ints(node, "zeros")?.first().is_none_or(|z| *z != 0);
    Ok((
        expand(OneHotEncoder {
            categories,
            width,
            zeros,
            strings,
        }),
        vec![],
    ))
}

impl Expansion for OneHotEncoder {
    fn name(&self) -> StaticName {
        "OneHotEncoder".into()
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
        s.equals(&outputs[0].rank, inputs[0].rank.bex() + 1)?;
        s.given(&inputs[0].shape, move |s, shape| {
            let mut out = shape.clone();
            out.push(self.width.to_dim());
            s.equals(&outputs[0].shape, out)
        })
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let is_string = model.outlet_fact(inputs[0])?.datum_type == DatumType::String;
        ensure!(
            is_string == self.strings,
            "OneHotEncoder has {} categories for a {:?} input",
            if self.strings { "string" } else { "integer" },
            model.outlet_fact(inputs[0])?.datum_type
        );
        model.wire_node(prefix, self.clone(), inputs)
    }
}

capstan_op!(OneHotEncoder, "OneHotEncoder");

impl EvalOp for OneHotEncoder {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let keys = keys_of(&input, false)?;
        let mut output = vec![0f32; keys.len() * self.width];
        for (key, row) in keys.iter().zip(output.chunks_exact_mut(self.width.max(1))) {
            match self.categories.get(key) {
                Some(position) => row[*position] = 1.0,
                None if self.zeros => {}
                None => bail!("OneHotEncoder: unknown category {key:?}"),
            }
        }
        let mut shape: TVec<usize> = input.shape().into();
        shape.push(self.width);
        Ok(tvec!(tract_ndarray::ArrayD::from_shape_vec(
            &*shape, output
        )?
        .into_tvalue()))
    }
}

impl TypedOp for OneHotEncoder {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let mut shape: TVec<TDim> = inputs[0].shape.to_tvec();
        shape.push(self.width.to_dim());
        Ok(tvec!(f32::fact(shape)))
    }

    as_op!();
}

/// A `LabelEncoder`'s values.
#[derive(Clone, Debug, PartialEq)]
enum Values {
    Text(Vec<String>, String),
    Int(Vec<i64>, i64),
    Float(Vec<f32>, f32),
}

/// ONNX `ai.onnx.ml.LabelEncoder` (v1 and v2 attributes).
#[derive(Clone, Debug, PartialEq)]
pub struct LabelEncoder {
    /// Key → index into the values.
    keys: HashMap<Key, usize>,
    values: Values,
    /// Keys are strings (else numbers).
    string_keys: bool,
    /// Keys are floats, compared by their bits.
    float_keys: bool,
}

pub fn label_encoder(
    _ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let default_string = strings(node, "default_string")?
        .pop()
        .unwrap_or_else(|| "_Unused".into());
    let default_int = ints(node, "default_int64")?.pop().unwrap_or(-1);
    let default_float = floats(node, "default_float")?.pop().unwrap_or(-0.0);
    let classes = strings(node, "classes_strings")?;
    let float_keys = !floats(node, "keys_floats")?.is_empty();
    let (keys, string_keys, values) = if !classes.is_empty() {
        // v1: strings → their index, or (for integer inputs) index → string; the input
        // type decides at wiring time, so keep both readings.
        let count = classes.len();
        (
            classes.iter().cloned().map(Key::Text).collect::<Vec<_>>(),
            true,
            Values::Int((0..count as i64).collect(), default_int),
        )
    } else {
        let (keys, string_keys) = match (
            strings(node, "keys_strings")?,
            ints(node, "keys_int64s")?,
            floats(node, "keys_floats")?,
        ) {
            (k, i, f) if !k.is_empty() && i.is_empty() && f.is_empty() => {
                (k.into_iter().map(Key::Text).collect::<Vec<_>>(), true)
            }
            (k, i, f) if k.is_empty() && !i.is_empty() && f.is_empty() => {
                (i.into_iter().map(Key::Int).collect(), false)
            }
            (k, i, f) if k.is_empty() && i.is_empty() && !f.is_empty() => {
                (f.into_iter().map(|x| Key::Int(f32_key(x))).collect(), false)
            }
            _ => bail!("exactly one of keys_strings, keys_int64s and keys_floats must be set"),
        };
        let values = match (
            strings(node, "values_strings")?,
            ints(node, "values_int64s")?,
            floats(node, "values_floats")?,
        ) {
            (v, i, f) if !v.is_empty() && i.is_empty() && f.is_empty() => {
                Values::Text(v, default_string)
            }
            (v, i, f) if v.is_empty() && !i.is_empty() && f.is_empty() => {
                Values::Int(i, default_int)
            }
            (v, i, f) if v.is_empty() && i.is_empty() && !f.is_empty() => {
                Values::Float(f, default_float)
            }
            _ => {
                bail!("exactly one of values_strings, values_int64s and values_floats must be set")
            }
        };
        (keys, string_keys, values)
    };
    let count = match &values {
        Values::Text(v, _) => v.len(),
        Values::Int(v, _) => v.len(),
        Values::Float(v, _) => v.len(),
    };
    ensure!(
        count == keys.len(),
        "LabelEncoder has {} keys for {count} values",
        keys.len()
    );
    let keys = keys
        .into_iter()
        .enumerate()
        .map(|(index, key)| (key, index))
        .collect();
    Ok((
        expand(LabelEncoder {
            keys,
            values,
            string_keys,
            float_keys,
        }),
        vec![],
    ))
}

impl LabelEncoder {
    fn output_type(&self) -> DatumType {
        match self.values {
            Values::Text(..) => DatumType::String,
            Values::Int(..) => DatumType::I64,
            Values::Float(..) => DatumType::F32,
        }
    }
}

impl Expansion for LabelEncoder {
    fn name(&self) -> StaticName {
        "LabelEncoder".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, self.output_type())?;
        s.equals(&inputs[0].shape, &outputs[0].shape)
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let is_string = model.outlet_fact(inputs[0])?.datum_type == DatumType::String;
        ensure!(
            is_string == self.string_keys,
            "LabelEncoder has {} keys for a {:?} input",
            if self.string_keys {
                "string"
            } else {
                "numeric"
            },
            model.outlet_fact(inputs[0])?.datum_type
        );
        model.wire_node(prefix, self.clone(), inputs)
    }
}

capstan_op!(LabelEncoder, "LabelEncoder");

impl EvalOp for LabelEncoder {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let found: Vec<Option<usize>> = keys_of(&input, self.float_keys)?
            .iter()
            .map(|key| self.keys.get(key).copied())
            .collect();
        let shape = input.shape();
        let output = match &self.values {
            Values::Text(values, default) => {
                tract_ndarray::ArrayD::from_shape_vec(shape, pick(&found, values, default))?
                    .into_tensor()
            }
            Values::Int(values, default) => {
                tract_ndarray::ArrayD::from_shape_vec(shape, pick(&found, values, default))?
                    .into_tensor()
            }
            Values::Float(values, default) => {
                tract_ndarray::ArrayD::from_shape_vec(shape, pick(&found, values, default))?
                    .into_tensor()
            }
        };
        Ok(tvec!(output.into_tvalue()))
    }
}

fn pick<T: Clone>(found: &[Option<usize>], values: &[T], default: &T) -> Vec<T> {
    found
        .iter()
        .map(|index| index.map_or_else(|| default.clone(), |i| values[i].clone()))
        .collect()
}

impl TypedOp for LabelEncoder {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(self.output_type().fact(inputs[0].shape.iter())))
    }

    as_op!();
}
