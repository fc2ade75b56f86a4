"""Self-tuning networks (hpo.stn): layers, representations, the bilevel trainer, runs inside a study."""
from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

import hpo  # noqa: E402
import hpo.stn as stn  # noqa: E402
from hpo.errors import StnError  # noqa: E402

torch.set_num_threads(1)


def _hyper(names=("dropout_0",), initial=0.05, high=0.9):
    return stn.StnHyperparameters({n: hpo.Float(0, high) for n in names}, {n: initial for n in names})


def _regression(seed=0, n=30, n_val=200, d=5):
    """Few noisy points of a linear 5-D regression: an over-parameterised MLP overfits them."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(d, generator=g)
    X = torch.randn(n + n_val, d, generator=g)
    y = X @ w + torch.randn(n + n_val, generator=g)
    return (X[:n], y[:n]), (X[n:], y[n:])


def _classification(seed=0, n=64, n_val=32, d=8, k=3):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n + n_val, d, generator=g)
    y = (X[:, 0] > 0).long() + (X[:, 1] > 0.5).long()
    return (X[:n], y[:n]), (X[n:], y[n:])


# -- layers ------------------------------------------------------------------------------------------------
def test_linear_layer_shape_and_gate_follow_the_formula():
    torch.manual_seed(0)
    layer = stn.StnLinear(4, 3, 2)
    x, z = torch.randn(5, 4), torch.randn(5, 2)
    y = layer(x, z)
    assert y.shape == (5, 3)
    gate = z @ layer.hnet.weight.T  # (5, 6)
    expected = (layer.elem_scalar * (x @ layer.elem_weight.T + layer.elem_bias)
                + gate[:, :3] * (x @ layer.hnet_weight.T) + gate[:, 3:] * layer.hnet_bias)
    torch.testing.assert_close(y, expected)
    with torch.no_grad():
        layer.hnet.weight.zero_()
    torch.testing.assert_close(layer(x, z), x @ layer.elem_weight.T + layer.elem_bias)
    with pytest.raises(StnError, match=r"hnet_in must have shape \(B, H\) = \(5, 2\)"):
        layer(x, torch.randn(5, 3))


def test_conv_layer_gates_each_output_channel():
    torch.manual_seed(0)
    layer = stn.StnConv2d(2, 3, 3, 2, padding=1)
    x, z = torch.randn(4, 2, 6, 6), torch.randn(4, 2)
    assert layer(x, z).shape == (4, 3, 6, 6)
    with torch.no_grad():
        layer.hnet.weight.zero_()
        base = layer(x, z)
        layer.hnet.weight[0, 0] = 1.0  # only the weight gate of channel 0, driven by hyperparameter 0
    diff = layer(x, z) - base
    assert diff[:, 1:].abs().max() == 0
    resp = torch.nn.functional.conv2d(x, layer.hnet_weight, padding=1)[:, 0]
    torch.testing.assert_close(diff[:, 0], z[:, 0, None, None] * resp)


def test_gates_start_at_zero_for_delta_stn_and_small_normal_otherwise():
    torch.manual_seed(0)
    delta = stn.StnLinear(100, 200, 5, delta=True)
    assert torch.count_nonzero(delta.hnet.weight) == 0 and delta.elem_scalar is None
    assert torch.count_nonzero(stn.StnConv2d(3, 8, 3, 4, delta=True).hnet.weight) == 0
    plain = stn.StnLinear(100, 200, 5)
    w = plain.hnet.weight.detach()
    assert w.shape == (400, 5) and abs(float(w.mean())) < 1e-3 and 0.009 < float(w.std()) < 0.011
    assert float(plain.elem_scalar.detach()) == 1.0


# -- hyperparameter representations -----------------------------------------------------------------------
def test_transforms_map_into_bounds_and_invert():
    space = {"dropout_0": hpo.Float(0.0, 0.9), "noise": stn.HalfOpen(0.1), "cutout": hpo.Int(0, 24)}
    hyper = stn.StnHyperparameters(space, {"dropout_0": 0.3, "noise": 2.5, "cutout": 7})
    values = hyper.values_dict()
    assert values["dropout_0"] == pytest.approx(0.3, abs=1e-6) and values["noise"] == pytest.approx(2.5, abs=1e-5)
    assert values["cutout"] == 7.0
    h = torch.linspace(-30, 30, 601)[:, None].expand(-1, 3)
    v = hyper.to_values(h)
    assert 0.0 <= v[:, 0].min() and v[:, 0].max() <= 0.9
    assert v[:, 1].min() >= 0.1 and torch.isfinite(v[:, 1]).all()
    assert set(v[:, 2].tolist()) == set(float(i) for i in range(25))  # every integer, only integers
    for value in (0, 12, 24):
        ints = stn.StnHyperparameters({"cutout": hpo.Int(0, 24)}, {"cutout": value})
        assert ints.values_dict()["cutout"] == value
    batch = hyper.sample(64, torch.Generator().manual_seed(0))
    assert batch.values.shape == (64, 3) and batch.get("noise").shape == (64,)
    assert batch.get("dropout_0").std() > 0  # a draw per example
    expected = 3 * math.log(0.5 * math.sqrt(2 * math.pi * math.e))
    assert float(hyper.entropy().detach()) == pytest.approx(expected, rel=1e-5)


# -- the gradient path ------------------------------------------------------------------------------------
def test_validation_gradient_reaches_h_only_through_the_hypernetwork():
    torch.manual_seed(0)
    hyper = _hyper(("dropout_0", "input_dropout"), initial=0.3)
    model = stn.StnMLP(8, [16], 3, hyper)
    (X, y), _ = _classification()

    def grad_h():
        hyper.h.grad = None
        loss = torch.nn.functional.cross_entropy(model(X, hyper.current(), train=False), y)
        loss.backward()
        return hyper.h.grad if hyper.h.grad is not None else torch.zeros(2)

    assert (grad_h().abs() > 0).all()
    with torch.no_grad():
        for layer in model.layers:
            layer.hnet.weight.zero_()
    assert torch.count_nonzero(grad_h()) == 0


# -- the known direction --------------------------------------------------------------------------------------
def _fit(tune, seed=0, **kw):
    torch.manual_seed(seed)
    names = ("dropout_0", "dropout_1")
    model = stn.StnMLP(5, [256, 256], 1, _hyper(names))
    train_data, val_data = _regression()
    options = dict(loss="mse", epochs=300, warmup_epochs=20, batch_size=30, lr=0.01, hyper_lr=0.03, t_train=2,
                   t_val=1, eval_every=50, progress=False, seed=seed)
    options.update(kw)
    return stn.train(model, train_data, val_data, tune=tune, **options)


def test_learned_dropout_rises_where_more_dropout_helps_and_beats_the_fixed_start():
    tuned, fixed = _fit(True), _fit(False)
    assert fixed.final_values == pytest.approx({"dropout_0": 0.05, "dropout_1": 0.05})
    assert all(v > 0.15 for v in tuned.final_values.values()), tuned.final_values
    assert tuned.schedule["val_loss"].iloc[-1] < fixed.schedule["val_loss"].iloc[-1]
    assert tuned.weight_steps == fixed.weight_steps == 300
    assert list(tuned.schedule.columns) == ["step", "val_loss", "dropout_0", "dropout_1"]


def test_runs_are_deterministic_per_seed():
    a, b, c = (_fit(True, seed=s, epochs=40, eval_every=10) for s in (3, 3, 4))
    assert a.schedule.equals(b.schedule)
    assert not a.schedule.equals(c.schedule)


def test_cnn_with_augmentation_and_label_smoothing_trains():
    torch.manual_seed(0)
    space = {"dropout_0": hpo.Float(0, 0.9), "dropout_1": hpo.Float(0, 0.9), "noise": hpo.Float(0, 1),
             "scale": hpo.Float(0, 0.3), "cutout": hpo.Int(0, 4), "label_smoothing": hpo.Float(0, 0.5),
             "input_dropout": hpo.Float(0, 0.5)}
    initial = {"dropout_0": 0.1, "dropout_1": 0.1, "noise": 0.1, "scale": 0.1, "cutout": 2,
               "label_smoothing": 0.1, "input_dropout": 0.1}
    model = stn.StnCNN(1, 8, [4], [16], 3, stn.StnHyperparameters(space, initial))
    (X, y), (Xv, yv) = _classification(d=64)
    result = stn.train(model, (X, y), (Xv, yv), epochs=3, warmup_epochs=1, batch_size=16, t_train=2,
                       progress=False)
    assert result.predict(Xv).shape == (32, 3) and math.isfinite(result.evaluate(Xv, yv))
    assert set(result.final_values) == set(space) and len(result.schedule) == 3


def test_delta_stn_trains_with_its_defaults():
    torch.manual_seed(0)
    model = stn.StnMLP(8, [16], 3, _hyper(), delta=True)
    train_data, val_data = _classification()
    result = stn.train(model, train_data, val_data, epochs=4, warmup_epochs=1, batch_size=16, progress=False)
    assert result.final_values["dropout_0"] != pytest.approx(0.05, abs=1e-7)  # the hyperparameter moved


# -- configuration errors ---------------------------------------------------------------------------------
def test_bad_configurations_are_stn_errors_naming_the_field():
    with pytest.raises(StnError, match="hyperparameter 'dropout_3' is not used by the model"):
        stn.StnMLP(8, [16], 3, _hyper(("dropout_3",)))
    with pytest.raises(StnError, match="hyperparameter 'lr_boost' is not used by the model"):
        stn.StnMLP(8, [16], 3, _hyper(("lr_boost",)))
    stn.StnMLP(8, [16], 3, _hyper(("lr_boost",)), user_hyperparameters=["lr_boost"])  # declared: fine
    with pytest.raises(StnError, match=r"initial\['dropout_0'\].*initial=0\.95.*high=0\.9"):
        stn.StnHyperparameters({"dropout_0": hpo.Float(0, 0.9)}, {"dropout_0": 0.95})
    with pytest.raises(StnError, match="missing=\\['noise'\\]"):
        stn.StnHyperparameters({"dropout_0": hpo.Float(0, 0.9), "noise": hpo.Float(0, 1)}, {"dropout_0": 0.1})
    model = stn.StnMLP(8, [16], 3, _hyper())
    data = _classification()
    for option, match in (({"t_val": 0}, "t_val: must be an integer >= 1, but got t_val=0"),
                          ({"tau": -1e-3}, r"tau: `tau >= 0.0` must hold, but got tau=-0.001"),
                          ({"loss": "hinge"}, "loss must be one of"),
                          ({"warmup_epochs": 5, "epochs": 5}, "warmup_epochs < epochs")):
        with pytest.raises(StnError, match=match):
            stn.train(model, *data, progress=False, **option)
    with pytest.raises(StnError, match="label_smoothing"):
        stn.train(stn.StnMLP(8, [16], 1, _hyper(("label_smoothing",))), *_regression(), loss="mse", progress=False)


# -- inside a study ---------------------------------------------------------------------------------------
def test_schedule_is_stored_as_reports_and_a_resumed_run_continues_it(tmp_path):
    study = hpo.create_study(name="stn", space={"hyper_lr": hpo.Float(1e-3, 1e-1, log=True)},
                             storage=f"sqlite:///{tmp_path / 'stn.db'}", checkpoint_root=str(tmp_path / "ckpt"),
                             sampler="random", seed=0)
    train_data, val_data = _classification()
    options = dict(epochs=12, warmup_epochs=2, batch_size=16, eval_every=4, t_train=2, progress=False, seed=1)

    def run(trial, callback=None):
        torch.manual_seed(0)
        model = stn.StnMLP(8, [16], 3, _hyper())
        return stn.train(model, train_data, val_data, trial=trial, hyper_lr=trial["hyper_lr"], callback=callback,
                         **options)

    trial = study.ask()
    first = run(trial, callback=lambda info: info["step"] >= 16)  # stops after the evaluation at step 16
    assert first.stopped == "callback" and first.weight_steps == 16
    resumed = run(trial)  # the same trial again: continues from its checkpoint
    study.tell(trial, resumed.best_val_loss)
    assert resumed.stopped == "done" and resumed.weight_steps == 12 * 4

    reports = study.store.get_reports(study.study_id, [trial.number])
    steps = [r.step for r in reports]
    assert steps == [4.0 * i for i in range(1, 13)]  # every evaluation once, none repeated
    assert all(set(r.values) == {"val_loss", "hp/dropout_0"} for r in reports)

    torch.manual_seed(0)  # the same run without the interruption gives the same schedule
    straight = stn.train(stn.StnMLP(8, [16], 3, _hyper()), train_data, val_data, hyper_lr=trial["hyper_lr"],
                         **options)
    stored = [r.values["hp/dropout_0"] for r in reports]
    assert stored == pytest.approx(straight.schedule["dropout_0"].tolist(), abs=1e-6)
    assert [r.values["val_loss"] for r in reports] == pytest.approx(straight.schedule["val_loss"].tolist(), abs=1e-6)
    assert resumed.schedule["step"].tolist() == steps


def test_a_checkpoint_left_by_a_deleted_study_of_the_same_name_is_not_resumed(tmp_path):
    train_data, val_data = _classification()

    def one_trial(db):
        study = hpo.create_study(name="stn", space={"x": hpo.Float(0, 1)}, storage=f"sqlite:///{tmp_path / db}",
                                 checkpoint_root=str(tmp_path / "ckpt"), sampler="random", seed=0)
        trial = study.ask()
        torch.manual_seed(0)
        result = stn.train(stn.StnMLP(8, [16], 3, _hyper()), train_data, val_data, trial=trial, epochs=3,
                           warmup_epochs=1, batch_size=16, progress=False)
        return study, trial, result

    _, first_trial, first = one_trial("a.db")
    study, trial, second = one_trial("b.db")  # same study id, name and number: the same checkpoint folder
    assert trial.checkpoint_dir == first_trial.checkpoint_dir
    assert second.schedule.equals(first.schedule)  # trained from scratch, not read back as finished
    assert [r.step for r in study.store.get_reports(study.study_id, [trial.number])] == [4.0, 8.0, 12.0]


def test_learning_rate_rule_early_stopping_and_max_seconds():
    fixed = _fit(False, lr_drop_window=1)  # the fixed run overfits: its validation loss rises
    losses = fixed.schedule["val_loss"].tolist()
    assert any(b > a for a, b in zip(losses, losses[1:])) and fixed.extra["lr"] < 0.01
    stopped = _fit(False, patience=1)
    assert stopped.stopped == "early_stopping" and stopped.weight_steps < 300
    assert stopped.schedule["step"].tolist() == fixed.schedule["step"].tolist()[:len(stopped.schedule)]
    tiny = _fit(True, max_seconds=1e-9)
    assert tiny.stopped == "max_seconds" and tiny.weight_steps == 1 and tiny.schedule["step"].tolist() == [1]
