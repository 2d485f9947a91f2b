"""speed.fp8: the frozen base weights of a LoRA run multiply in FP8 (engine/fp8.py). On CPU torch has a _scaled_mm
too, so the same code runs here (slowly); the GPU test runs the real cuBLASLt kernel."""

from __future__ import annotations

import pytest

from engine import fp8

torch = pytest.importorskip("torch")


def _cpu_scaled_mm() -> bool:
    """torch's CPU _scaled_mm with row-wise scales and a bias (torch 2.13 has it; the GPU machine's 2.11 failed these
    tests on CPU, where the CUDA kernel is what runs)."""
    try:
        a = torch.ones(2, 16).to(torch.float8_e4m3fn)
        torch._scaled_mm(a, a.t(), scale_a=torch.ones(2, 1), scale_b=torch.ones(1, 2),
                         bias=torch.zeros(2, dtype=torch.bfloat16), out_dtype=torch.bfloat16)
        return True
    except Exception:
        return False


cpu_fp8 = pytest.mark.skipif(not _cpu_scaled_mm(), reason="this torch has no CPU _scaled_mm with row-wise scales")


def _linear(n_out=64, n_in=96, bias=True, seed=0):
    torch.manual_seed(seed)
    lin = torch.nn.Linear(n_in, n_out, bias=bias).to(torch.bfloat16)
    lin.weight.requires_grad_(False)
    if bias:
        lin.bias.requires_grad_(False)
    return lin


def _rel(a, b):
    return ((a.float() - b.float()).norm() / b.float().norm()).item()


def test_quantize_rows_keeps_each_rows_scale_and_range():
    x = torch.randn(5, 32) * torch.tensor([1e-3, 1.0, 30.0, 1e3, 0.0])[:, None]
    q, s = fp8.quantize_rows(x)
    assert q.dtype == torch.float8_e4m3fn and s.shape == (5, 1) and s.dtype == torch.float32
    back = q.float() * s
    assert back.abs().max() <= x.abs().max() * 1.0001
    for i in range(4):  # e4m3 keeps ~2 significant digits whatever the row's magnitude
        assert _rel(back[i], x[i]) < 0.05
    assert torch.equal(back[4], torch.zeros(32))  # a zero row stays zero (no 0/0)


@cpu_fp8
def test_a_frozen_linear_in_fp8_matches_bf16_and_passes_the_input_gradient():
    lin = _linear()
    x = torch.randn(3, 7, 96, dtype=torch.bfloat16, requires_grad=True)
    ref = lin(x)
    (gref,) = torch.autograd.grad(ref.float().square().sum(), x)
    keys = set(lin.state_dict())
    lin._tunewiz_fp8_any_device = True
    assert fp8.convert_linear(lin)
    y = lin(x)
    assert y.shape == ref.shape and y.dtype == torch.bfloat16
    assert _rel(y, ref) < 0.06
    (g,) = torch.autograd.grad(y.float().square().sum(), x)
    assert _rel(g, gref) < 0.08
    assert lin.weight.grad is None
    assert set(lin.state_dict()) == keys  # the scales are not saved


def test_layers_that_cannot_use_fp8_are_left_alone():
    trained = _linear()
    trained.weight.requires_grad_(True)  # full fine-tuning: the weight gradient is needed
    odd = _linear(n_out=63)  # not a multiple of 16
    fp32 = _linear().float()
    for m in (trained, odd, fp32):
        m._tunewiz_fp8_any_device = True
        assert not fp8.convert_linear(m)
        assert not hasattr(m, "_tunewiz_linear_forward")
    assert not fp8.convert_linear(_linear())  # on CPU only when asked (tests); a run converts CUDA layers


def _lora_model():
    from peft import LoraConfig, get_peft_model
    from transformers import Qwen2Config, Qwen2ForCausalLM

    cfg = Qwen2Config(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                      vocab_size=300, max_position_embeddings=256, tie_word_embeddings=False)
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(cfg).to(torch.bfloat16)
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", lora_dropout=0.0,
                                             init_lora_weights=False))
    for n, p in model.named_parameters():
        if "lora_" in n:
            p.data = p.data.to(torch.bfloat16)
    return model


@cpu_fp8
def test_apply_converts_the_base_layers_of_lora_and_the_adapter_gradients_agree():
    """Every base linear of the decoder layers (7 a layer x 2) computes in FP8; the adapters, the LM head and the
    embeddings do not; the loss and the adapters' gradients stay close to bf16's; the state dict is unchanged."""
    model = _lora_model()
    ids = torch.randint(3, 300, (2, 24))
    out = model(input_ids=ids, labels=ids)
    out.loss.backward()
    ref_loss = out.loss.item()
    ref_grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
    model.zero_grad(set_to_none=True)
    keys = list(model.state_dict())
    assert fp8.apply(model, any_device=True) == 14
    assert list(model.state_dict()) == keys
    assert not hasattr(model.get_base_model().lm_head, "_tunewiz_linear_forward")
    assert all(not hasattr(m, "_tunewiz_linear_forward") for n, m in model.named_modules() if "lora_" in n)
    out = model(input_ids=ids, labels=ids)
    out.loss.backward()
    assert abs(out.loss.item() - ref_loss) < 0.02 * ref_loss
    for n, p in model.named_parameters():
        if p.requires_grad:
            assert _rel(p.grad, ref_grads[n]) < 0.1, n
        else:
            assert p.grad is None
    assert fp8.apply(model, any_device=True) == 0  # twice is once


def test_an_fp8_lora_layer_traces_into_one_graph():
    """Under speed.compile_layers the FP8 layers are traced by torch.compile: a graph break inside them splits every
    compiled decoder layer into pieces (measured on the H200 before this test: FP8 0.95x of bf16, 15% more memory).
    Dynamo alone (explain) checks it here, on CPU: the LoRA MLP of a decoder layer, FP8 base layers and bf16 adapters."""
    model = _lora_model()
    fp8.apply(model, any_device=True)
    mlp = model.get_base_model().model.layers[0].mlp
    x = torch.randn(1, 9, 64, dtype=torch.bfloat16, requires_grad=True)
    torch._dynamo.reset()
    found = torch._dynamo.explain(mlp)(x)
    assert (found.graph_count, found.graph_break_count) == (1, 0), [b.reason for b in found.break_reasons]


def test_supported_needs_fp8_tensor_cores():
    assert fp8.supported((9, 0)) and fp8.supported((8, 9)) and fp8.supported((10, 0))
    assert not fp8.supported((8, 0)) and not fp8.supported((7, 5))


def _fp8_gpu() -> bool:
    return torch.cuda.is_available() and fp8.supported()


@pytest.mark.gpu
@pytest.mark.skipif(not _fp8_gpu(), reason="needs a CUDA GPU with FP8 (Ada or Hopper)")
def test_fp8_on_the_gpu_matches_bf16_eager_and_compiled():
    """cuBLASLt's row-wise FP8 GEMM, odd token counts, eager and under torch.compile (as compiled layers run it)."""
    lin = _linear(n_out=512, n_in=256).cuda()
    ref_lin = _linear(n_out=512, n_in=256).cuda()
    assert fp8.convert_linear(lin)
    for m in (1, 37, 1000):
        x = torch.randn(m, 256, device="cuda", dtype=torch.bfloat16, requires_grad=True)
        ref = ref_lin(x)
        (gref,) = torch.autograd.grad(ref.float().square().sum(), x)
        for f in (lin, torch.compile(lin, dynamic=True)):
            y = f(x)
            (g,) = torch.autograd.grad(y.float().square().sum(), x)
            assert _rel(y, ref) < 0.06 and _rel(g, gref) < 0.08
