"""A small TFLite -> ONNX converter for the BlazePose models that mediapipe ships.

Reads the `.tflite` flatbuffer with the `tflite` schema package and writes an ONNX graph
that ONNX Runtime (or TensorRT) runs. It covers the operators those models use: CONV_2D,
DEPTHWISE_CONV_2D, ADD, PAD, MAX_POOL_2D, RESIZE_BILINEAR, DEPTH_TO_SPACE, RESHAPE,
CONCATENATION, LOGISTIC, with fused activations; DEQUANTIZE (float16 weights) and
DENSIFY (sparse weights, stored as compressed rows) are folded into float32
initializers at conversion time. Anything else stops with a clear error naming the op.

Layout: TFLite is NHWC, ONNX convolutions are NCHW. The graph's inputs and outputs keep
TFLite's NHWC shapes; inside, 4-D activations are kept NCHW and transposed back only
where NHWC order matters (RESHAPE, outputs).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import tflite
from onnx import TensorProto, helper, numpy_helper
from tflite.BuiltinOperator import BuiltinOperator

from engine.errors import InputError

log = logging.getLogger(__name__)

OPSET = 17
_OP_NAMES = {v: k for k, v in vars(BuiltinOperator).items() if not k.startswith("_")}
_NUMPY = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 9: np.int8}
_SAME, _VALID = 0, 1
NHWC_TO_NCHW = (0, 3, 1, 2)
NCHW_TO_NHWC = (0, 2, 3, 1)
_AXIS_NHWC_TO_NCHW = {0: 0, 1: 2, 2: 3, 3: 1}


@dataclass
class _Tensor:
    name: str
    shape: tuple[int, ...]
    dtype: type
    data: np.ndarray | None  # constant value, dense, or None for activations


def _vector(union_type: int, table: object) -> np.ndarray:
    cls = {1: tflite.Int32Vector, 2: tflite.Uint16Vector, 3: tflite.Uint8Vector}.get(union_type)
    if cls is None:
        raise InputError(f"unsupported sparse index vector type {union_type}")
    vec = cls()
    vec.Init(table.Bytes, table.Pos)
    return vec.ValuesAsNumpy().astype(np.int64)


def densify(values: np.ndarray, shape: tuple[int, ...], sparsity: tflite.SparsityParameters
            ) -> np.ndarray:
    """A TFLite sparse tensor (dense and CSR dimensions, no blocks) as a dense array."""
    if sparsity.BlockMapLength():
        raise InputError("block-sparse tensors are not supported")
    order = [int(i) for i in sparsity.TraversalOrderAsNumpy()]
    dims = [sparsity.DimMetadata(i) for i in range(sparsity.DimMetadataLength())]
    out = np.zeros(shape, dtype=values.dtype)
    coords = [0] * len(order)

    def walk(level: int, position: int) -> None:
        if level == len(order):
            out[tuple(coords)] = values[position]
            return
        meta = dims[level]
        if meta.Format() == 0:  # dense: children are laid out contiguously
            size = meta.DenseSize()
            for i in range(size):
                coords[order[level]] = i
                walk(level + 1, position * size + i)
        else:  # CSR: segments index into the stored indices of this dimension
            segments = _vector(meta.ArraySegmentsType(), meta.ArraySegments())
            indices = _vector(meta.ArrayIndicesType(), meta.ArrayIndices())
            for j in range(segments[position], segments[position + 1]):
                coords[order[level]] = int(indices[j])
                walk(level + 1, j)

    walk(0, 0)
    return out


def _same_pads(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's SAME padding (before, after) for one spatial dimension."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


class _Converter:
    def __init__(self, buf: bytes) -> None:
        self.model = tflite.Model.GetRootAsModel(buf, 0)
        if self.model.SubgraphsLength() != 1:
            raise InputError("only single-subgraph models are supported")
        self.graph = self.model.Subgraphs(0)
        self.tensors = [self._read_tensor(i) for i in range(self.graph.TensorsLength())]
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.nchw: set[int] = set()  # tensors held transposed (NCHW) in the ONNX graph
        self._counter = 0

    # -- reading -----------------------------------------------------------------------
    def _read_tensor(self, i: int) -> _Tensor:
        t = self.graph.Tensors(i)
        shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        dtype = _NUMPY.get(t.Type())
        if dtype is None:
            raise InputError(f"tensor {t.Name().decode()} has unsupported type {t.Type()}")
        buffer = self.model.Buffers(t.Buffer())
        data = None
        if buffer is not None and buffer.DataLength():
            raw = buffer.DataAsNumpy().tobytes()
            values = np.frombuffer(raw, dtype=dtype)
            sparsity = t.Sparsity()
            data = (densify(values, shape, sparsity) if sparsity is not None
                    else values.reshape(shape))
        return _Tensor(f"t{i}", shape, dtype, data)

    def _options(self, op: tflite.Operator, cls: type) -> object:
        table = op.BuiltinOptions()
        opts = cls()
        opts.Init(table.Bytes, table.Pos)
        return opts

    # -- writing helpers ---------------------------------------------------------------
    def _fresh(self, hint: str) -> str:
        self._counter += 1
        return f"{hint}_{self._counter}"

    def _const(self, array: np.ndarray, hint: str = "const") -> str:
        name = self._fresh(hint)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def _node(self, op: str, inputs: list[str], outputs: list[str] | None = None,
              **attrs: object) -> str:
        outputs = outputs or [self._fresh(op.lower())]
        self.nodes.append(helper.make_node(op, inputs, outputs, **attrs))
        return outputs[0]

    def _value(self, i: int) -> np.ndarray | None:
        return self.tensors[i].data

    def _float_const(self, i: int) -> np.ndarray:
        data = self._value(i)
        if data is None:
            raise InputError(f"expected a constant for tensor {i}")
        return data.astype(np.float32)

    def _as_nchw(self, i: int) -> str:
        """Tensor `i` as an NCHW ONNX value (transposing or re-laying-out a constant)."""
        t = self.tensors[i]
        if t.data is not None:
            data = t.data.astype(np.float32) if t.dtype in (np.float16,) else t.data
            return self._const(data.transpose(NHWC_TO_NCHW) if data.ndim == 4 else data)
        if i in self.nchw or len(t.shape) != 4:
            return t.name
        return self._node("Transpose", [t.name], perm=list(NHWC_TO_NCHW))

    def _as_nhwc(self, i: int) -> str:
        t = self.tensors[i]
        if t.data is not None:
            return self._const(t.data)
        if i in self.nchw:
            return self._node("Transpose", [t.name], perm=list(NCHW_TO_NHWC))
        return t.name

    def _activation(self, value: str, kind: int, out: str) -> None:
        if kind == 0:
            self._node("Identity", [value], [out])
        elif kind == 1:
            self._node("Relu", [value], [out])
        elif kind == 2:
            self._node("Clip", [value, self._const(np.float32(-1)), self._const(np.float32(1))],
                       [out])
        elif kind == 3:
            self._node("Clip", [value, self._const(np.float32(0)), self._const(np.float32(6))],
                       [out])
        elif kind == 4:
            self._node("Tanh", [value], [out])
        else:
            raise InputError(f"unsupported fused activation {kind}")

    # -- operators -----------------------------------------------------------------------
    def convert(self) -> onnx.ModelProto:
        for k in range(self.graph.OperatorsLength()):
            op = self.graph.Operators(k)
            code = self.model.OperatorCodes(op.OpcodeIndex())
            builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            name = _OP_NAMES.get(builtin, str(builtin))
            handler = getattr(self, f"_op_{name.lower()}", None)
            if handler is None:
                raise InputError(f"operator {name} is not supported by the converter")
            handler(op, list(op.InputsAsNumpy()), list(op.OutputsAsNumpy()))
        return self._finish()

    def _op_dequantize(self, op, ins, outs) -> None:  # noqa: ANN001, ARG002
        src = self._value(ins[0])
        if src is None:
            raise InputError("DEQUANTIZE of an activation is not supported")
        self.tensors[outs[0]].data = src.astype(np.float32)

    def _op_densify(self, op, ins, outs) -> None:  # noqa: ANN001, ARG002
        self.tensors[outs[0]].data = self._value(ins[0])  # densified when read

    def _conv(self, op, ins, outs, depthwise: bool) -> None:  # noqa: ANN001
        cls = tflite.DepthwiseConv2DOptions if depthwise else tflite.Conv2DOptions
        o = self._options(op, cls)
        weight = self._float_const(ins[1])
        x_shape = self.tensors[ins[0]].shape
        if depthwise:  # [1, kh, kw, C*m] -> [C*m, 1, kh, kw], one group per input channel
            w = weight.transpose(3, 0, 1, 2)
            group = x_shape[3]
        else:  # [O, kh, kw, I] -> [O, I, kh, kw]
            w = weight.transpose(0, 3, 1, 2)
            group = 1
        kh, kw = w.shape[2:]
        dil = (o.DilationHFactor() or 1, o.DilationWFactor() or 1)
        stride = (o.StrideH(), o.StrideW())
        if o.Padding() == _SAME:
            top, bottom = _same_pads(x_shape[1], kh, stride[0], dil[0])
            left, right = _same_pads(x_shape[2], kw, stride[1], dil[1])
        else:
            top = bottom = left = right = 0
        inputs = [self._as_nchw(ins[0]), self._const(w, "weight")]
        if len(ins) > 2 and ins[2] >= 0:
            inputs.append(self._const(self._float_const(ins[2]), "bias"))
        y = self._node("Conv", inputs, kernel_shape=[kh, kw], strides=list(stride),
                       dilations=list(dil), pads=[top, left, bottom, right], group=group)
        self._activation(y, o.FusedActivationFunction(), self.tensors[outs[0]].name)
        self.nchw.add(outs[0])

    def _op_conv_2d(self, op, ins, outs) -> None:  # noqa: ANN001
        self._conv(op, ins, outs, depthwise=False)

    def _op_depthwise_conv_2d(self, op, ins, outs) -> None:  # noqa: ANN001
        self._conv(op, ins, outs, depthwise=True)

    def _op_add(self, op, ins, outs) -> None:  # noqa: ANN001
        o = self._options(op, tflite.AddOptions)
        rank4 = len(self.tensors[outs[0]].shape) == 4
        pick = self._as_nchw if rank4 else self._as_nhwc
        y = self._node("Add", [pick(ins[0]), pick(ins[1])])
        self._activation(y, o.FusedActivationFunction(), self.tensors[outs[0]].name)
        if rank4:
            self.nchw.add(outs[0])

    def _op_pad(self, op, ins, outs) -> None:  # noqa: ANN001, ARG002
        pads = self._value(ins[1]).astype(np.int64)  # [[before, after]] per NHWC dim
        order = NHWC_TO_NCHW
        onnx_pads = [pads[d, 0] for d in order] + [pads[d, 1] for d in order]
        self._node("Pad", [self._as_nchw(ins[0]), self._const(np.array(onnx_pads, np.int64))],
                   [self.tensors[outs[0]].name], mode="constant")
        self.nchw.add(outs[0])

    def _op_max_pool_2d(self, op, ins, outs) -> None:  # noqa: ANN001
        o = self._options(op, tflite.Pool2DOptions)
        k, s = (o.FilterHeight(), o.FilterWidth()), (o.StrideH(), o.StrideW())
        shape = self.tensors[ins[0]].shape
        if o.Padding() == _SAME:
            top, bottom = _same_pads(shape[1], k[0], s[0])
            left, right = _same_pads(shape[2], k[1], s[1])
        else:
            top = bottom = left = right = 0
        y = self._node("MaxPool", [self._as_nchw(ins[0])], kernel_shape=list(k),
                       strides=list(s), pads=[top, left, bottom, right])
        self._activation(y, o.FusedActivationFunction(), self.tensors[outs[0]].name)
        self.nchw.add(outs[0])

    def _op_resize_bilinear(self, op, ins, outs) -> None:  # noqa: ANN001
        o = self._options(op, tflite.ResizeBilinearOptions)
        mode = ("align_corners" if o.AlignCorners() else
                "half_pixel" if o.HalfPixelCenters() else "asymmetric")
        n, h, w, c = self.tensors[outs[0]].shape
        sizes = self._const(np.array([n, c, h, w], np.int64))
        self._node("Resize", [self._as_nchw(ins[0]), "", "", sizes],
                   [self.tensors[outs[0]].name], mode="linear",
                   coordinate_transformation_mode=mode)
        self.nchw.add(outs[0])

    def _op_depth_to_space(self, op, ins, outs) -> None:  # noqa: ANN001
        o = self._options(op, tflite.DepthToSpaceOptions)
        self._node("DepthToSpace", [self._as_nchw(ins[0])], [self.tensors[outs[0]].name],
                   blocksize=o.BlockSize(), mode="DCR")
        self.nchw.add(outs[0])

    def _op_logistic(self, op, ins, outs) -> None:  # noqa: ANN001, ARG002
        self._node("Sigmoid", [self.tensors[ins[0]].name], [self.tensors[outs[0]].name])
        if ins[0] in self.nchw:
            self.nchw.add(outs[0])

    def _op_reshape(self, op, ins, outs) -> None:  # noqa: ANN001, ARG002
        shape = np.array(self.tensors[outs[0]].shape, np.int64)
        self._node("Reshape", [self._as_nhwc(ins[0]), self._const(shape)],
                   [self.tensors[outs[0]].name])

    def _op_concatenation(self, op, ins, outs) -> None:  # noqa: ANN001
        o = self._options(op, tflite.ConcatenationOptions)
        rank = len(self.tensors[outs[0]].shape)
        axis = o.Axis() % rank
        if rank == 4 and all(i in self.nchw for i in ins):
            inputs, axis = [self.tensors[i].name for i in ins], _AXIS_NHWC_TO_NCHW[axis]
            self.nchw.add(outs[0])
        else:
            inputs = [self._as_nhwc(i) for i in ins]
        y = self._node("Concat", inputs, axis=axis)
        self._activation(y, o.FusedActivationFunction(), self.tensors[outs[0]].name)

    # -- graph ---------------------------------------------------------------------------
    def _finish(self) -> onnx.ModelProto:
        inputs, outputs = [], []
        prologue: list[onnx.NodeProto] = []
        for i in self.graph.InputsAsNumpy():
            t = self.tensors[i]
            public = self.graph.Tensors(i).Name().decode()
            inputs.append(helper.make_tensor_value_info(public, TensorProto.FLOAT, t.shape))
            prologue.append(helper.make_node("Identity", [public], [t.name]))
        for i in self.graph.OutputsAsNumpy():
            t = self.tensors[i]
            public = self.graph.Tensors(i).Name().decode()
            value = t.name
            if i in self.nchw:
                value = self._node("Transpose", [t.name], perm=list(NCHW_TO_NHWC))
            self._node("Identity", [value], [public])
            outputs.append(helper.make_tensor_value_info(public, TensorProto.FLOAT, t.shape))
        graph = helper.make_graph(prologue + self.nodes, "blazepose", inputs, outputs,
                                  self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="dancenow.export.tflite_to_onnx")
        model.ir_version = 8
        onnx.checker.check_model(model)
        return model


def convert_tflite(path: str | Path) -> onnx.ModelProto:
    """The `.tflite` model at `path` as an ONNX model (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"TFLite model not found: {path}")
    try:
        return _Converter(path.read_bytes()).convert()
    except (IndexError, AttributeError, TypeError) as exc:
        raise InputError(f"{path} is not a TFLite model this converter can read: {exc}") from exc
