//! Reading `ai.onnx.ml` node attributes straight from the proto, with the spec's rules:
//! an absent list is empty, and a float attribute may come as its double-precision
//! `<name>_as_tensor` twin instead.

use tract_onnx::pb::tensor_proto::DataType as OnnxType;
use tract_onnx::pb::{AttributeProto, NodeProto, TensorProto};
use tract_onnx::tract_hir::internal::{bail, TractResult};

fn attribute<'a>(node: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

/// An integer list (or single integer) attribute; empty when absent.
pub fn ints(node: &NodeProto, name: &str) -> TractResult<Vec<i64>> {
    Ok(match attribute(node, name) {
        Some(a) if !a.ints.is_empty() => a.ints.clone(),
        Some(a) => vec![a.i],
        None => Vec::new(),
    })
}

/// A string list (or single string) attribute; empty when absent.
pub fn strings(node: &NodeProto, name: &str) -> TractResult<Vec<String>> {
    let Some(a) = attribute(node, name) else {
        return Ok(Vec::new());
    };
    let raw: Vec<&[u8]> = if a.strings.is_empty() {
        vec![a.s.as_slice()]
    } else {
        a.strings.iter().map(Vec::as_slice).collect()
    };
    raw.into_iter()
        .map(|bytes| match std::str::from_utf8(bytes) {
            Ok(text) => Ok(text.to_owned()),
            Err(_) => bail!("attribute {name} holds a string that is not UTF-8"),
        })
        .collect()
}

/// A float list attribute; empty when absent.
pub fn floats(node: &NodeProto, name: &str) -> TractResult<Vec<f32>> {
    Ok(match attribute(node, name) {
        Some(a) if !a.floats.is_empty() => a.floats.clone(),
        Some(a) => vec![a.f],
        None => Vec::new(),
    })
}

/// A float list attribute as `f64`, or its `<name>_as_tensor` twin; also says whether
/// the values were floats (`true`) or doubles. Empty when both are absent.
pub fn floats_or_doubles(node: &NodeProto, name: &str) -> TractResult<(Vec<f64>, bool)> {
    if let Some(tensor) = attribute(node, &format!("{name}_as_tensor")).and_then(|a| a.t.as_ref()) {
        if attribute(node, name).is_some() {
            bail!("{name} and {name}_as_tensor are both set");
        }
        return Ok((tensor_values(tensor, name)?, false));
    }
    Ok((
        floats(node, name)?.into_iter().map(f64::from).collect(),
        true,
    ))
}

/// Like `floats_or_doubles`, without saying which.
pub fn optional_doubles(node: &NodeProto, name: &str) -> TractResult<Vec<f64>> {
    floats_or_doubles(node, name).map(|(values, _)| values)
}

/// The values of a float or double tensor attribute.
fn tensor_values(tensor: &TensorProto, name: &str) -> TractResult<Vec<f64>> {
    let width = match OnnxType::try_from(tensor.data_type) {
        Ok(OnnxType::Double) if !tensor.double_data.is_empty() => {
            return Ok(tensor.double_data.clone())
        }
        Ok(OnnxType::Float) if !tensor.float_data.is_empty() => {
            return Ok(tensor.float_data.iter().copied().map(f64::from).collect())
        }
        Ok(OnnxType::Double) => 8,
        Ok(OnnxType::Float) => 4,
        _ => bail!("{name}_as_tensor must be a float or double tensor"),
    };
    let raw = &tensor.raw_data;
    if !raw.len().is_multiple_of(width) {
        bail!(
            "{name}_as_tensor holds {} bytes, not whole values",
            raw.len()
        );
    }
    Ok(raw
        .chunks_exact(width)
        .map(|bytes| match bytes.try_into() {
            Ok(eight) => f64::from_le_bytes(eight),
            Err(_) => {
                let four: [u8; 4] = [bytes[0], bytes[1], bytes[2], bytes[3]];
                f64::from(f32::from_le_bytes(four))
            }
        })
        .collect())
}
