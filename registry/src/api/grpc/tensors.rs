//! gRPC tensors to and from V2's. Input tensors become V2 tensors whose elements travel in
//! the binary extension's layout (`raw_input_contents` as they are; typed `contents`
//! packed the same way), so one decoder reads every transport. Outputs leave as typed
//! `contents`, or as `raw_output_contents` when the request sent raw inputs.

use serde_json::json;

use capstan_client::inference::{V2InferRequest, V2RequestedOutput, V2Tensor};
use capstan_client::ClassLabel;

use super::proto::model_infer_request::InferInputTensor;
use super::proto::model_infer_response::InferOutputTensor;
use super::proto::{InferTensorContents, ModelInferRequest, ModelInferResponse};
use crate::serving::v2::{Inference, OutputData};
use crate::serving::ServeError;

/// A gRPC infer request as a V2 request and the bytes of its tensors.
pub(super) fn v2_request(
    request: ModelInferRequest,
) -> Result<(V2InferRequest, Vec<u8>), ServeError> {
    let raw = request.raw_input_contents;
    if !raw.is_empty() && raw.len() != request.inputs.len() {
        return Err(ServeError::BadInput(format!(
            "raw_input_contents has {} entries for {} inputs: send one per input, in order",
            raw.len(),
            request.inputs.len()
        )));
    }
    let mut binary = Vec::with_capacity(raw.iter().map(Vec::len).sum());
    let mut inputs = Vec::with_capacity(request.inputs.len());
    for (index, input) in request.inputs.into_iter().enumerate() {
        let start = binary.len();
        match raw.get(index) {
            Some(bytes) => {
                if input
                    .contents
                    .as_ref()
                    .is_some_and(|c| element_count(c) > 0)
                {
                    return Err(ServeError::BadInput(format!(
                        "input {:?} has typed contents in a request with raw_input_contents: send one or the other",
                        input.name
                    )));
                }
                binary.extend_from_slice(bytes);
            }
            None => pack(&input, &mut binary)?,
        }
        inputs.push(V2Tensor {
            parameters: Some(json!({ "binary_data_size": binary.len() - start })),
            name: input.name,
            shape: input.shape,
            datatype: input.datatype,
            data: None,
        });
    }
    let outputs = (!request.outputs.is_empty()).then(|| {
        request
            .outputs
            .into_iter()
            .map(|output| V2RequestedOutput {
                name: output.name,
                parameters: None,
            })
            .collect()
    });
    let decoded = V2InferRequest {
        id: (!request.id.is_empty()).then_some(request.id),
        parameters: None,
        inputs,
        outputs,
    };
    Ok((decoded, binary))
}

fn element_count(contents: &InferTensorContents) -> usize {
    contents.bool_contents.len()
        + contents.int_contents.len()
        + contents.int64_contents.len()
        + contents.uint_contents.len()
        + contents.uint64_contents.len()
        + contents.fp32_contents.len()
        + contents.fp64_contents.len()
        + contents.bytes_contents.len()
}

/// Appends a typed tensor's elements in the binary layout of its datatype. A datatype the
/// decoder does not read appends nothing: the decoder names it.
fn pack(input: &InferInputTensor, out: &mut Vec<u8>) -> Result<(), ServeError> {
    let empty = InferTensorContents::default();
    let contents = input.contents.as_ref().unwrap_or(&empty);
    let (field, packed) = match input.datatype.as_str() {
        "FP64" => {
            out.extend(contents.fp64_contents.iter().flat_map(|v| v.to_le_bytes()));
            ("fp64_contents", contents.fp64_contents.len())
        }
        "FP32" => {
            out.extend(contents.fp32_contents.iter().flat_map(|v| v.to_le_bytes()));
            ("fp32_contents", contents.fp32_contents.len())
        }
        "INT64" => {
            out.extend(contents.int64_contents.iter().flat_map(|v| v.to_le_bytes()));
            ("int64_contents", contents.int64_contents.len())
        }
        "BYTES" => {
            for element in &contents.bytes_contents {
                let length = u32::try_from(element.len()).map_err(|_| {
                    ServeError::BadInput(format!(
                        "input {:?}: an element is over 4 GiB",
                        input.name
                    ))
                })?;
                out.extend_from_slice(&length.to_le_bytes());
                out.extend_from_slice(element);
            }
            ("bytes_contents", contents.bytes_contents.len())
        }
        _ => return Ok(()),
    };
    if packed == 0 && element_count(contents) > 0 {
        return Err(ServeError::BadInput(format!(
            "input {:?} is {} but its elements are not in {field}",
            input.name, input.datatype
        )));
    }
    Ok(())
}

/// A V2 answer on the wire: typed contents, or raw contents when `raw`.
pub(super) fn wire_response(answer: Inference, raw: bool) -> ModelInferResponse {
    let mut raw_output_contents = Vec::new();
    let outputs = answer
        .outputs
        .into_iter()
        .map(|tensor| {
            let contents = typed_contents(tensor.datatype, tensor.data);
            let contents = if raw {
                raw_output_contents.push(raw_bytes(&contents));
                None
            } else {
                Some(contents)
            };
            InferOutputTensor {
                name: tensor.name,
                datatype: tensor.datatype.to_owned(),
                shape: tensor.shape,
                parameters: Default::default(),
                contents,
            }
        })
        .collect();
    ModelInferResponse {
        model_name: answer.model_name,
        model_version: answer.model_version,
        id: answer.id.unwrap_or_default(),
        parameters: Default::default(),
        outputs,
        raw_output_contents,
    }
}

/// An output's elements in the contents field of its datatype.
fn typed_contents(datatype: &str, data: OutputData) -> InferTensorContents {
    let mut contents = InferTensorContents::default();
    match data {
        OutputData::Fp64(values) => contents.fp64_contents = values,
        OutputData::Labels(labels) if datatype == "INT64" => {
            contents.int64_contents = labels
                .iter()
                .map(|label| match label {
                    ClassLabel::Int(n) => *n,
                    ClassLabel::Text(_) => 0,
                })
                .collect();
        }
        OutputData::Labels(labels) => {
            contents.bytes_contents = labels
                .iter()
                .map(|label| label.to_string().into_bytes())
                .collect();
        }
    }
    contents
}

/// Typed contents in the raw layout (little-endian; BYTES length-prefixed).
fn raw_bytes(contents: &InferTensorContents) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend(contents.fp64_contents.iter().flat_map(|v| v.to_le_bytes()));
    out.extend(contents.int64_contents.iter().flat_map(|v| v.to_le_bytes()));
    for element in &contents.bytes_contents {
        out.extend_from_slice(&(element.len() as u32).to_le_bytes());
        out.extend_from_slice(element);
    }
    out
}
