"""The trained models' storage (analytics/thermal/store.py: ``thermal_models``) on SQLite and
PostgreSQL: a model comes back as it was put (its bytes exactly, its gate, meta-data and
forecast), a new one replaces the old, a model that failed its gate is stored with its reason,
bad input is refused naming what is wrong before anything is written, and the table survives
``bright index rebuild``."""

from __future__ import annotations

import copy
import hashlib
import math
from typing import Any

import numpy as np
import pytest
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from analytics.thermal.store import (
    MODEL_MAX_BYTES,
    TwinStoreError,
    delete_model,
    get_model_bytes,
    get_model_info,
    put_model,
)
from streams.db import drop_read_models, open_database
from tests.analytics.thermal.test_store import T0, A, B, engine  # noqa: F401  (the fixture)
from tests.streams.conftest import pg_server  # noqa: F401  (the session's PostgreSQL server)

MODEL = b"\x80" * 100  # opaque to the store: no torch file needed
STEPS = 24


def gate(usable: bool = True, reason: str = "") -> dict[str, Any]:
    return {"usable": usable, "reason": reason, "worst_lead_share_within": 0.97,
            "worst_lead_mae_c": 0.61, "n_origins": 240}


def meta() -> dict[str, Any]:
    return {
        "data": {"start": "2023-01-01T00:00:00", "end": "2023-03-01T00:00:00", "rows": 1416},
        "scores": {"lead_1": {"temp_e": {"mae_c": 0.21, "within_1_5": 0.999}},
                   "lead_24": {"temp_e": {"mae_c": 0.61, "within_1_5": 0.97}}},
        "parameters": {"heat_loss_kw_k": 0.18, "tau_fast_h": 1.5, "tau_slow_h": 40.0},
        "versions": {"torch": "2.5.0"},
    }


def forecast(steps: int = STEPS, origin_s: int = T0 + 59 * 86_400) -> dict[str, Any]:
    return {
        "origin_s": origin_s,
        "step_s": 3600,
        "plans": {
            "as-is": {"indoor_c": [20.5 + 0.01 * i for i in range(steps)],
                      "heat_kwh": [1.2] * steps},
            "setpoint-1": {"indoor_c": [19.6] * steps, "heat_kwh": [0.9] * steps},
        },
    }


def put(db: Any, account: str = A, chain_id: int = 1, **changes: Any) -> None:
    args: dict[str, Any] = {
        "home_id": "citylearn-2023/Building_1", "model": MODEL, "gate": gate(), "meta": meta(),
        "forecast": forecast(), "trained_s": T0 + 60 * 86_400,
    }
    put_model(db, chain_id, account, **(args | changes))


def test_a_model_comes_back_as_it_was_put_and_a_new_one_replaces_it(engine):  # noqa: F811
    put(engine, A.lower())  # any case in, checksummed in the table
    with Session(engine) as s, s.begin():  # the caller's transaction
        put(s, B, home_id="csv/b.csv")
        put(s, A, chain_id=2, home_id="on another chain")
    info = get_model_info(engine, 1, A)
    assert info is not None
    assert info.account.lower() == A and info.account != A  # EIP-55
    assert (info.home_id, info.usable, info.reason) == ("citylearn-2023/Building_1", True, "")
    assert info.gate == gate() and info.meta == meta() and info.forecast == forecast()
    assert info.model_sha256 == hashlib.sha256(MODEL).hexdigest()
    assert info.size_bytes == len(MODEL) and info.trained_s == T0 + 60 * 86_400
    assert info.stored_s >= info.trained_s
    assert get_model_bytes(engine, 1, A) == MODEL
    assert get_model_info(engine, 2, A).home_id == "on another chain"
    assert get_model_info(engine, 1, "0x" + "c3" * 20) is None
    assert get_model_bytes(engine, 1, "0x" + "c3" * 20) is None

    # A new model replaces the old whole; a failed one is stored with its reason, no forecast.
    failed = b"\x00\x01" * 3000
    put(engine, A, model=failed, gate=gate(False, "24 h ahead only 80% within 1.5 degC"),
        forecast={}, meta={"scores": {}}, trained_s=T0 + 61 * 86_400)
    info = get_model_info(engine, 1, A)
    assert info is not None and not info.usable
    assert info.reason == "24 h ahead only 80% within 1.5 degC"
    assert info.forecast == {} and info.meta == {"scores": {}} and info.size_bytes == 6000
    assert get_model_bytes(engine, 1, A) == failed
    assert get_model_info(engine, 1, B).home_id == "csv/b.csv"  # others untouched

    assert delete_model(engine, 1, A) and not delete_model(engine, 1, A)
    assert get_model_info(engine, 1, A) is None and get_model_bytes(engine, 1, A) is None
    assert get_model_info(engine, 2, A) is not None


def test_a_gate_without_validation_origins_and_numpy_values(engine):  # noqa: F811
    """What pimf's gate gives with too little data (an infinite worst error) is stored, the
    infinity as None; numpy numbers are taken as plain ones; the measured steps beside the
    forecast may have gaps."""
    no_origins = {"usable": False, "reason": "no validation origins: too little data",
                  "worst_lead_share_within": 0.0, "worst_lead_mae_c": math.inf, "n_origins": 0}
    put(engine, gate=no_origins, forecast={})
    info = get_model_info(engine, 1, A)
    assert info is not None and info.gate["worst_lead_mae_c"] is None
    assert info.reason == "no validation origins: too little data"

    f = forecast(4)
    f["plans"]["as-is"]["heat_kwh"] = np.array([1.0, 2.0, 3.0, 4.0])
    f["measured"] = {"indoor_c": [20.0, None, math.nan, 21.0], "heat_kwh": [1, 2, 3, 4]}
    put(engine, gate={"usable": np.bool_(True), "reason": ""}, forecast=f,
        meta={"parameters": {"c_air_kwh_k": np.float32(1.5)}}, trained_s=np.int64(T0))
    info = get_model_info(engine, 1, A)
    assert info is not None and info.usable and info.trained_s == T0
    assert info.forecast["plans"]["as-is"]["heat_kwh"] == [1.0, 2.0, 3.0, 4.0]
    assert info.forecast["measured"]["indoor_c"] == [20.0, None, None, 21.0]
    assert info.meta == {"parameters": {"c_air_kwh_k": 1.5}}


def test_the_models_survive_a_rebuild(engine):  # noqa: F811
    put(engine)
    drop_read_models(engine)  # bright index rebuild
    assert "thermal_models" in inspect(engine).get_table_names()
    open_database(engine.url.render_as_string(hide_password=False)).dispose()  # migrated again
    info = get_model_info(engine, 1, A)
    assert info is not None and info.forecast == forecast()
    assert get_model_bytes(engine, 1, A) == MODEL


def _bad_forecast(change: Any) -> dict[str, Any]:
    f = copy.deepcopy(forecast())
    change(f)
    return f


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"home_id": ""}, r"home_id must be text of 1 to 200"),
        ({"model": b""}, r"model has 0 bytes; a stored model has 1 to"),
        ({"model": b"x" * (MODEL_MAX_BYTES + 1)}, r"model has 5,242,881 bytes"),
        ({"model": "not bytes"}, r"model must be bytes"),
        ({"gate": {"reason": ""}}, r"gate\['usable'\] must be true or false, not None"),
        ({"gate": {"usable": 1, "reason": ""}}, r"gate\['usable'\] must be true or false"),
        ({"gate": {"usable": True}}, r"gate\['reason'\] must be text, not None"),
        ({"gate": {"usable": False, "reason": " "}}, r"gate\['reason'\] is empty: a model that"),
        ({"gate": [True, ""]}, r"gate must be a mapping"),
        ({"meta": {"when": object()}}, r"meta\['when'\] is a object, which JSON cannot"),
        ({"meta": {"mae": math.nan}}, r"meta\['mae'\] is nan: store None"),
        ({"meta": {1: 2}}, r"meta has a key 1 that is not text"),
        ({"meta": None}, r"meta must be a mapping"),
        ({"trained_s": -1}, r"trained_s must be whole seconds"),
        ({"trained_s": 1.5}, r"trained_s must be whole seconds"),
        ({"forecast": {}}, r"forecast is empty: a usable model's forecast has"),
        ({"forecast": None}, r"forecast must be a mapping"),
        ({"forecast": _bad_forecast(lambda f: f.pop("step_s"))}, r"forecast has no step_s"),
        ({"forecast": _bad_forecast(lambda f: f.update(x=1))}, r"forecast has unknown keys"),
        ({"forecast": _bad_forecast(lambda f: f.update(origin_s="now"))},
         r"forecast\.origin_s must be whole seconds"),
        ({"forecast": _bad_forecast(lambda f: f.update(step_s=0))},
         r"forecast\.step_s must be whole seconds \(1 to 86,400\)"),
        ({"forecast": _bad_forecast(lambda f: f.update(plans={}))},
         r"forecast\.plans must map at least one plan"),
        ({"forecast": _bad_forecast(lambda f: f["plans"].update({"what if?": {}}))},
         r"the name 'what if\?'"),
        ({"forecast": _bad_forecast(lambda f: f["plans"]["as-is"].pop("heat_kwh"))},
         r"plans\['as-is'\] must hold exactly indoor_c and heat_kwh"),
        ({"forecast": _bad_forecast(lambda f: f["plans"]["as-is"].update(extra=[]))},
         r"plans\['as-is'\] must hold exactly indoor_c and heat_kwh"),
        ({"forecast": _bad_forecast(lambda f: f["plans"]["as-is"]["heat_kwh"].pop())},
         r"plans\['as-is'\]\.heat_kwh has 23 values, the forecast 24"),
        ({"forecast": _bad_forecast(lambda f: f["plans"]["setpoint-1"]["indoor_c"].pop())},
         r"plans\['setpoint-1'\]\.indoor_c has 23 values, the forecast 24"),
        ({"forecast": forecast(0)}, r"indoor_c has 0 values; a forecast has 1 to 96 steps"),
        ({"forecast": forecast(97)}, r"indoor_c has 97 values; a forecast has 1 to 96 steps"),
        ({"forecast": _bad_forecast(lambda f: f["plans"]["as-is"]["indoor_c"].__setitem__(
            3, math.nan))}, r"plans\['as-is'\]\.indoor_c\[3\] is nan: values must be finite"),
        ({"forecast": _bad_forecast(lambda f: f["plans"]["as-is"]["heat_kwh"].__setitem__(
            0, None))}, r"plans\['as-is'\]\.heat_kwh\[0\] is None: values must be numbers"),
        ({"forecast": _bad_forecast(lambda f: f["plans"]["as-is"]["heat_kwh"].__setitem__(
            0, True))}, r"heat_kwh\[0\] is True: values must be numbers"),
        ({"forecast": _bad_forecast(lambda f: f.update(
            measured={"indoor_c": [1.0], "heat_kwh": [1.0]}))},
         r"forecast\.measured\.indoor_c has 1 values, the forecast 24"),
    ],
)
def test_bad_models_are_refused_naming_what_is_wrong(tmp_path, changes, message):
    db = open_database(f"sqlite:///{tmp_path / 't.sqlite'}")
    put(db)
    before = get_model_info(db, 1, A)
    with pytest.raises(TwinStoreError, match=message):
        put(db, **({"home_id": "replacement", "model": b"\x01" * 10} | changes))
    assert get_model_info(db, 1, A) == before  # nothing written
    assert get_model_bytes(db, 1, A) == MODEL
    with pytest.raises(TwinStoreError, match="an account is 0x and 40 hex digits"):
        put(db, "home-01")
    db.dispose()
