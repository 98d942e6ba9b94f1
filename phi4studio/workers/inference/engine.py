"""The onnxruntime-genai side of the inference worker: load a model folder once, generate.

Runs only inside the worker process (onnxruntime-genai holds the GIL while it computes). Nothing
here writes to stdout: `generate` reports tokens through a callback and returns the result fields.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from phi4studio.core.inference.requests import (
    STOP_CONTEXT,
    STOP_EOS,
    STOP_MAX_TOKENS,
    STOP_REPEAT,
    STOP_STOPPED,
    STOP_STRING,
    STOP_TEXT_LIMIT,
    GenerateRequest,
    RequestError,
    stop_strings_hit,
)
from phi4studio.workers.inference.callcontrol import (
    NameWatch,
    RepeatWatch,
    Vocabulary,
    barred,
    biased,
    choice_probability,
    escaped,
    forced,
    loop_next,
    name_bias,
    token_probability,
)

PROVIDER_CHOICES = ("auto", "cpu", "cuda", "dml")
FF_HEADROOM = 256  # room past max_new_tokens for tokens a grammar forces in one step
_AVAILABILITY = {"cuda": "is_cuda_available", "dml": "is_dml_available"}
_PACKAGES = {"cuda": "onnxruntime-genai-cuda", "dml": "onnxruntime-genai-directml"}

OnToken = Callable[[int, str], None]
ShouldStop = Callable[[], bool]
Notify = Callable[[str], None]


class LoadError(Exception):
    """The model folder could not be loaded on any provider."""


def read_genai_config(model_dir: Path) -> dict[str, Any]:
    path = model_dir / "genai_config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise LoadError(
            f"{model_dir} is not an onnxruntime-genai model folder (no genai_config.json)"
        ) from exc
    except (OSError, ValueError) as exc:
        raise LoadError(f"cannot read {path}: {exc}") from exc
    return data if isinstance(data, dict) else {}


def configured_provider(genai_config: dict[str, Any]) -> str | None:
    """The execution provider the folder was built for (None: CPU)."""
    try:
        opts = genai_config["model"]["decoder"]["session_options"]["provider_options"]
    except (KeyError, TypeError):
        return None
    for entry in opts or []:
        if isinstance(entry, dict):
            for name in entry:
                return "dml" if name.lower() in ("dml", "directml") else name.lower()
    return None


def _has_chat_template(model_dir: Path) -> bool:
    if (model_dir / "chat_template.jinja").exists():
        return True
    try:
        cfg = json.loads((model_dir / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(cfg, dict) and bool(cfg.get("chat_template"))


def _fast_forward(req: GenerateRequest) -> bool:
    """Whether the grammar's forced tokens are inserted without running the model. Not with
    `calls.more_threshold`: a call's close is forced, and onnxruntime-genai samples the token
    after a forced run in the same step, so the "another call?" step would never be seen."""
    if req.guidance is None or not req.guidance.ff_tokens:
        return False
    return req.calls is None or req.calls.more_threshold is None


class Engine:
    """One loaded model, its tokenizer and (optionally) its ONNX LoRA adapters."""

    def __init__(self, model_dir: Path, *, skip_special_tokens: bool = False,
                 threads: int = 0) -> None:
        self.model_dir = model_dir
        self.skip_special_tokens = skip_special_tokens
        self.threads = threads  # onnxruntime intra-op threads on the CPU; 0: the free cores
        self.cpu_threads: int | None = None  # what the CPU session was given (None: its default)
        self.genai_config: dict[str, Any] = {}
        self.provider = "cpu"
        self.requested_provider = "auto"
        self.fallback_reasons: list[str] = []
        self.load_s = 0.0
        self.active_adapter: str | None = None
        self.adapter_paths: dict[str, str] = {}
        self._og: Any = None
        self._model: Any = None
        self._tok: Any = None
        self._adapters: Any = None
        self._add_special: bool | None = None
        self.eos_ids: set[int] = set()
        self.context_length = 0
        self._vocab: Vocabulary | None = None

    # --- loading ----------------------------------------------------------------------------
    def load(self, provider: str = "auto", notify: Notify | None = None) -> None:
        """Load on `provider`, falling back (auto: built-for, cuda, dml, then cpu)."""
        import onnxruntime_genai as og

        self._og = og
        self.requested_provider = provider
        self.genai_config = read_genai_config(self.model_dir)
        t0 = time.perf_counter()
        last_exc: Exception | None = None
        for cand in self._candidates(provider):
            why = self._unavailable(cand)
            if why is None:
                try:
                    cfg = og.Config(str(self.model_dir))
                    cfg.clear_providers()
                    if cand != "cpu":
                        cfg.append_provider(cand)
                    else:
                        self._set_cpu_threads(cfg)
                    self._model = og.Model(cfg)
                    self.provider = cand
                    break
                except Exception as exc:  # noqa: BLE001 - each failure is a reason to fall back
                    last_exc = exc
                    why = f"{cand} failed to load the model: {exc}"
            if cand == "cpu":
                raise LoadError(why or "the model could not be loaded") from last_exc
            self.fallback_reasons.append(why)
            if notify is not None:
                notify(why)
        self._tok = og.Tokenizer(self._model)
        if not self.skip_special_tokens:
            self._tok.update_options(skip_special_tokens="false")
        self.eos_ids = {int(t) for t in self._tok.eos_token_ids}
        model_cfg = self.genai_config.get("model", {})
        self.context_length = int(model_cfg.get("context_length") or 0) or int(
            self.genai_config.get("search", {}).get("max_length") or 0
        )
        self.load_s = time.perf_counter() - t0

    def _set_cpu_threads(self, cfg: Any) -> None:
        """onnxruntime's intra-op threads for the CPU session: `threads`, else the cores other
        processes leave free now. Left to the model's genai_config.json where it names them.
        (onnxruntime-genai's default ran one core here: a 900-token prompt and 20 tokens took
        4.1 s on one thread and 2.3 s on two, on a 2-core machine.)"""
        decoder = self.genai_config.get("model", {}).get("decoder", {})
        options = decoder.get("session_options", {}) if isinstance(decoder, dict) else {}
        if isinstance(options, dict) and options.get("intra_op_num_threads"):
            self.cpu_threads = int(options["intra_op_num_threads"])
            return
        from phi4studio.core.cpu import free_cores

        # a quarter second of measuring: it adds to every model load
        n = self.threads if self.threads > 0 else free_cores(interval=0.25)
        if not n or not hasattr(cfg, "overlay"):
            return
        cfg.overlay(json.dumps({"model": {"decoder": {"session_options": {
            "intra_op_num_threads": int(n)}}}}))
        self.cpu_threads = int(n)

    def _candidates(self, provider: str) -> list[str]:
        if provider not in PROVIDER_CHOICES:
            raise LoadError(f"unknown provider {provider!r}; use one of {PROVIDER_CHOICES}")
        if provider == "cpu":
            return ["cpu"]
        if provider != "auto":
            return [provider, "cpu"]
        order: list[str] = []
        built_for = configured_provider(self.genai_config)
        if built_for in ("cuda", "dml"):
            order.append(built_for)
        order += [p for p in ("cuda", "dml") if p not in order and self._unavailable(p) is None]
        return [*order, "cpu"]

    def _unavailable(self, provider: str) -> str | None:
        fn = _AVAILABILITY.get(provider)
        if fn is None:
            return None
        try:
            ok = bool(getattr(self._og, fn)())
        except Exception:  # noqa: BLE001 - a failing probe means "not available"
            ok = False
        if ok:
            return None
        return (f"{provider} is not available: this onnxruntime-genai build has no "
                f"{provider.upper()} support (it comes with {_PACKAGES[provider]})")

    def info(self) -> dict[str, Any]:
        model_cfg = self.genai_config.get("model", {})
        decoder = model_cfg.get("decoder", {}) if isinstance(model_cfg, dict) else {}
        return {
            "model_dir": str(self.model_dir),
            "model_type": str(getattr(self._model, "type", model_cfg.get("type", ""))),
            "provider": self.provider,
            "requested_provider": self.requested_provider,
            "fallback_reason": "; ".join(self.fallback_reasons) or None,
            "device_type": str(getattr(self._model, "device_type", "")),
            "vocab_size": model_cfg.get("vocab_size"),
            "context_length": self.context_length or None,
            "num_layers": decoder.get("num_hidden_layers"),
            "hidden_size": decoder.get("hidden_size"),
            "eos_token_ids": sorted(self.eos_ids),
            "chat_template": _has_chat_template(self.model_dir),
            "search_defaults": self.genai_config.get("search", {}),
            "onnxruntime_genai": getattr(self._og, "__version__", None),
            "load_s": round(self.load_s, 4),
            "cpu_threads": self.cpu_threads if self.provider == "cpu" else None,
            "adapters": sorted(self.adapter_paths),
            "active_adapter": self.active_adapter,
        }

    # --- adapters ---------------------------------------------------------------------------
    def load_adapter(self, name: str, path: str) -> None:
        if not name:
            raise RequestError("an adapter needs a non-empty name")
        if not Path(path).is_file():
            raise RequestError(f"adapter file not found: {path}", code="adapter_error")
        if self._adapters is None:
            self._adapters = self._og.Adapters(self._model)
        if name in self.adapter_paths:
            self.unload_adapter(name)
        try:
            self._adapters.load(str(path), name)
        except Exception as exc:
            raise RequestError(f"cannot load adapter {name!r}: {exc}",
                               code="adapter_error") from exc
        self.adapter_paths[name] = str(path)

    def unload_adapter(self, name: str) -> None:
        if name not in self.adapter_paths:
            raise RequestError(f"no adapter named {name!r} is loaded", code="adapter_error")
        self._adapters.unload(name)
        del self.adapter_paths[name]
        if self.active_adapter == name:
            self.active_adapter = None

    def set_active_adapter(self, name: str | None) -> None:
        if name and name not in self.adapter_paths:
            raise RequestError(f"no adapter named {name!r} is loaded", code="adapter_error")
        self.active_adapter = name or None

    # --- generation -------------------------------------------------------------------------
    def render_prompt(self, req: GenerateRequest) -> str:
        if req.prompt is not None:
            return req.prompt
        if req.prompt_ids is not None:
            return ""
        try:
            return str(self._tok.apply_chat_template(
                json.dumps(req.messages),
                tools=json.dumps(req.tools) if req.tools else None,
                add_generation_prompt=True,
            ))
        except Exception as exc:
            raise RequestError(f"the chat template failed: {exc}", code="template_error",
                               hint="Send a rendered 'prompt' instead.") from exc

    def encode(self, text: str, add_special_tokens: bool) -> list[int]:
        if add_special_tokens != self._add_special:
            self._tok.update_options(add_special_tokens="true" if add_special_tokens else "false")
            self._add_special = add_special_tokens
        return [int(t) for t in self._tok.encode(text)]

    def _params(self, req: GenerateRequest, max_length: int) -> tuple[Any, int | None]:
        og = self._og
        params = og.GeneratorParams(self._model)
        opts: dict[str, Any] = {"max_length": max_length}
        seed: int | None = None
        if req.is_greedy:
            opts["do_sample"] = False
        else:
            opts["do_sample"] = True
            for name in ("temperature", "top_p", "top_k", "repetition_penalty"):
                value = getattr(req, name)
                if value is not None:
                    opts[name] = value
            seed = req.seed if req.seed is not None else random.randrange(1, 2**31 - 1)
            opts["random_seed"] = seed
        if req.is_greedy and req.repetition_penalty is not None:
            opts["repetition_penalty"] = req.repetition_penalty
        try:
            params.set_search_options(**opts)
        except Exception as exc:
            raise RequestError(f"invalid generation settings: {exc}") from exc
        if req.guidance is not None:
            try:
                params.set_guidance(req.guidance.type, req.guidance.text, _fast_forward(req))
            except Exception as exc:
                raise RequestError(f"invalid {req.guidance.type}: {exc}",
                                   code="bad_guidance") from exc
        return params, seed

    def generate(
        self,
        req: GenerateRequest,
        on_token: OnToken,
        should_stop: ShouldStop,
        on_prompt: Callable[[int], None] | None = None,
    ) -> dict[str, Any]:
        """Run one request to its end; returns the `result` fields (not the id).
        `on_prompt(n)` learns the prompt's token count once it is tokenized."""
        t_start = time.perf_counter()
        prompt = self.render_prompt(req)
        if req.prompt_ids is not None:
            ids = list(req.prompt_ids)
            vocab = self.genai_config.get("model", {}).get("vocab_size")
            if isinstance(vocab, int) and max(ids) >= vocab:
                raise RequestError(f"prompt_ids holds {max(ids)}, outside the vocabulary "
                                   f"(size {vocab})")
        else:
            add_special = (req.prompt is not None) if req.add_special_tokens is None else \
                req.add_special_tokens
            ids = self.encode(prompt, add_special)
        n_prompt = len(ids)
        if on_prompt is not None:
            on_prompt(n_prompt)
        if n_prompt == 0:
            raise RequestError("the prompt is empty", code="empty_prompt")
        ctx = self.context_length or (n_prompt + req.max_new_tokens)
        if n_prompt >= ctx:
            raise RequestError(
                f"the prompt is {n_prompt} tokens; the model's context is {ctx} tokens",
                code="prompt_too_long",
                hint="Shorten the conversation or the tool definitions.",
            )
        adapter = self.active_adapter if req.adapter is None else (req.adapter or None)
        if adapter and adapter not in self.adapter_paths:
            raise RequestError(f"no adapter named {adapter!r} is loaded", code="adapter_error")
        # Forced tokens (guidance ff_tokens) arrive several in one step: onnxruntime-genai 0.18
        # fails, and can abort the process, when such a run crosses max_length. The generator
        # gets room for them, and the loop below stops at max_new_tokens itself.
        extra = FF_HEADROOM if req.guidance is not None and _fast_forward(req) else 0
        max_length = min(ctx, n_prompt + req.max_new_tokens + extra)
        params, seed = self._params(req, max_length)
        result: dict[str, Any] = {
            "prompt_tokens": n_prompt, "seed": seed, "adapter": adapter,
            "guidance": req.guidance.type if req.guidance else None,
        }
        if req.echo_prompt or (req.echo_prompt is None and req.messages is not None):
            result["prompt"] = prompt
        if should_stop():
            return self._finish(result, [], "", STOP_STOPPED, t_start, None, None, t_start)
        try:
            gen = self._og.Generator(self._model, params)
            if adapter:
                gen.set_active_adapter(self._adapters, adapter)
            gen.append_tokens(ids)
        except Exception as exc:
            code = "bad_guidance" if req.guidance is not None else "generation_error"
            raise RequestError(f"generation could not start: {exc}", code=code) from exc
        control = req.calls
        marker_ids = self.encode(control.marker, False) if control is not None else []
        pending: list[int] = []  # marker tokens still to write (decided: a call)
        watch = RepeatWatch(control.marker) if control and control.stop_repeats else None
        loop_run = control.loop_tokens if control is not None else 0
        # only a grammar makes the tokens that end a value close the call properly; a small
        # budget keeps three quarters of itself for the call
        reserve = (min(control.close_reserve, req.max_new_tokens // 4)
                   if control is not None and req.guidance else 0)
        # after each call's close: another call (`between`) or the end (CallControl)
        more_ids = (self.encode(control.between, False)
                    if control is not None and control.close and control.between else [])
        more_at = -1  # the text length at the last such decision
        in_call = False  # the call marker has been written
        # a prior over the tool names (CallControl.names), while a call's name is written
        names = control.names if control is not None and control.names else None
        name_watch = NameWatch(control.marker) if control is not None and names else None
        if control is not None and marker_ids:
            try:
                if self._decide(gen, control.threshold, marker_ids[0], result):
                    pending = list(marker_ids)
            except Exception as exc:  # an onnxruntime-genai without get_logits/set_logits
                raise RequestError(f"call control is not available here: {exc}",
                                   code="generation_error",
                                   hint="Update onnxruntime-genai, or evaluate without a call "
                                        "threshold.") from exc
        t_prefill = time.perf_counter()
        stream = self._tok.create_stream()
        new_ids: list[int] = []
        text = ""
        reason: str | None = None
        stop_hit: str | None = None
        t_first: float | None = None
        count = gen.token_count()
        while not gen.is_done():
            if should_stop():
                reason = STOP_STOPPED
                break
            if pending and new_ids:  # the rest of a decided call's marker
                gen.set_logits(forced(gen.get_logits(), pending[len(new_ids)]))
            elif (more_ids and in_call and control is not None and len(text) != more_at
                  and text.endswith(control.close)):
                more_at = len(text)
                self._more(gen, control.more_threshold, more_ids[0], result)
            elif (loop_run or reserve) and in_call and \
                    (len(text) - len(text.rstrip("\\"))) % 2 == 0 and \
                    self._end_value(gen, new_ids, loop_run, reserve, req.max_new_tokens,
                                    watch, result):
                pass  # a value ended (not right after a lone backslash: a quote is escaped)
            elif name_watch is not None and names is not None and in_call:
                self._weigh_name(gen, name_watch.feed(text), names, result)
            gen.generate_next_token()
            # Read what was appended to the sequence: with guidance a step can append several
            # tokens (fast-forward) or none (the grammar ended: the end-of-sequence token is
            # then not part of the sequence), and get_next_tokens() may not name them.
            now_count = gen.token_count()
            step = [int(t) for t in gen.get_sequence(0)[count:now_count]]
            count = now_count
            if t_first is None and step:
                t_first = time.perf_counter()
            for tid in step:
                new_ids.append(tid)
                if tid in self.eos_ids and gen.is_done():
                    reason = STOP_EOS
                    break
                piece = stream.decode(tid)
                on_token(tid, piece)
                before = len(text)
                text += piece
                if (loop_run or reserve or more_ids) and not in_call and control is not None:
                    in_call = control.marker in text
                if req.stop and piece:
                    hit = stop_strings_hit(text, req.stop, before)
                    if hit is not None:
                        stop_hit = next(s for s in req.stop if text.startswith(s, hit))
                        reason = STOP_STRING
                        break
            if reason in (STOP_EOS, STOP_STRING):
                break
            if len(new_ids) >= req.max_new_tokens:
                reason = STOP_MAX_TOKENS  # a forced run is kept whole, even past the budget
                break
            if pending and (new_ids != pending[:len(new_ids)] or len(new_ids) >= len(pending)):
                pending = []  # the marker is written (or the grammar wrote past it)
            if (control is not None and control.text_tokens is not None and marker_ids
                    and new_ids and new_ids[0] != marker_ids[0]
                    and len(new_ids) >= control.text_tokens):
                reason = STOP_TEXT_LIMIT  # decided: a text answer, and its budget is spent
                break
            if watch is not None:
                cut = watch.feed(text)
                if cut is not None:
                    text = text[:cut] + (control.close if control else "")
                    result["repeats_dropped"] = 1
                    reason = STOP_REPEAT
                    break
        t_end = time.perf_counter()
        if reason is None:
            if new_ids and new_ids[-1] in self.eos_ids:
                reason = STOP_EOS
            elif len(new_ids) >= req.max_new_tokens:
                reason = STOP_MAX_TOKENS
            elif count >= ctx:
                reason = STOP_CONTEXT
            else:
                reason = STOP_EOS  # the grammar ended the output
        if reason in (STOP_MAX_TOKENS, STOP_CONTEXT) and watch is not None and control:
            cut = watch.unfinished(text)
            if cut is not None:  # the budget ran out inside a later call: keep those before
                text = text[:cut] + control.close
                result["cut_call_dropped"] = 1
            else:
                mended = watch.mended(text, control.close, control.between)
                if mended is not None:  # it ran out inside a close marker: complete it
                    text = mended
                    result["close_mended"] = 1
        # The text is what was streamed, piece by piece (the stream decoder joins multi-byte
        # characters split across tokens); a stop string ends it.
        if stop_hit is not None:
            text = text[: text.find(stop_hit) + len(stop_hit)]
            result["stop_string"] = stop_hit
        return self._finish(result, new_ids, text, reason, t_start, t_prefill, t_first, t_end)

    def _end_value(self, gen: Any, new_ids: list[int], loop_run: int, reserve: int,
                   budget: int, watch: RepeatWatch | None, result: dict[str, Any]) -> bool:
        """Ends the value being written when it loops (`loop_tokens`) or when the budget is
        nearly spent inside the first call (any call, where no repeat watch would drop a cut
        one: `close_reserve`); True when it did."""
        cycle = loop_next(new_ids, loop_run) if loop_run else None
        closing = (reserve > 0 and len(new_ids) >= budget - reserve
                   and (watch is None or watch.calls == 0))
        if cycle is None and not closing:
            return False
        gen.set_logits(escaped(gen.get_logits(), cycle, *self.vocabulary().enders()))
        key = "closed_at_budget" if closing else "loops_broken"
        result[key] = result.get(key, 0) + 1
        return True

    def _weigh_name(self, gen: Any, prefix: str | None, names: Mapping[str, float],
                    result: dict[str, Any]) -> None:
        """While a call's tool name is written (`prefix`: its characters so far), adds the
        names' prior to the tokens that go on with each name (CallControl.names)."""
        if prefix is None:
            return
        vocab = self.vocabulary()
        bias = name_bias(prefix, names, vocab.pieces(), vocab.enders()[0])
        if bias:
            gen.set_logits(biased(gen.get_logits(), bias))
            result["names_weighed"] = result.get("names_weighed", 0) + 1

    def vocabulary(self) -> Vocabulary:
        """The loaded model's token texts, decoded the first time call control needs them."""
        if self._vocab is None:
            size = self.genai_config.get("model", {}).get("vocab_size")
            self._vocab = Vocabulary(self._tok, size if isinstance(size, int) else 0)
        return self._vocab

    @staticmethod
    def _decide(gen: Any, threshold: float | None, first: int, result: dict[str, Any]) -> bool:
        """The first step's call-or-text decision (CallControl.threshold): reports `p_call`,
        then forces the marker's first token (True: a call) or bars it; None leaves it."""
        logits = gen.get_logits()
        p_call = token_probability(logits, first)
        result["p_call"] = round(p_call, 6)
        if threshold is None:
            return False
        call = p_call >= threshold
        gen.set_logits(forced(logits, first) if call else barred(logits, first))
        return call

    def _more(self, gen: Any, threshold: float | None, more: int,
              result: dict[str, Any]) -> None:
        """After a call's close: reports `p_more` (another call against the end), then forces
        one of the two when `threshold` is set (CallControl.more_threshold)."""
        logits = gen.get_logits()
        ends = sorted(self.eos_ids)
        p_more = choice_probability(logits, more, ends)
        result.setdefault("p_more", []).append(round(p_more, 6))
        if threshold is not None and ends:
            gen.set_logits(forced(logits, more if p_more >= threshold else ends))

    @staticmethod
    def _finish(
        result: dict[str, Any],
        new_ids: list[int],
        text: str,
        reason: str,
        t_start: float,
        t_prefill: float | None,
        t_first: float | None,
        t_end: float,
    ) -> dict[str, Any]:
        n = len(new_ids)
        decode_s = (t_end - t_first) if t_first is not None else 0.0
        result.update(
            text=text,
            token_ids=new_ids,
            completion_tokens=n,
            stop_reason=reason,
            ttft_s=round(t_first - t_start, 5) if t_first is not None else None,
            prefill_s=round(t_prefill - t_start, 5) if t_prefill is not None else None,
            decode_s=round(decode_s, 5),
            decode_tokens_per_s=round((n - 1) / decode_s, 2) if n > 1 and decode_s > 0 else None,
            total_s=round(t_end - t_start, 5),
        )
        return result
