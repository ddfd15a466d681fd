"""Device-model schemas: JSON round trip, defaults from the published fits, clear errors."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from xbarlab.sim_backend.models import ArrayConfig, ChipModel, PCMModel, RRAMModel


@pytest.mark.parametrize("model", [PCMModel(), RRAMModel(), ChipModel(),
                                   ChipModel(device=RRAMModel(), array=ArrayConfig(adc_bits=8))])
def test_json_round_trip(model):
    text = model.model_dump_json()
    again = type(model).model_validate_json(text)
    assert again == model
    assert again.model_dump_json() == text


def test_chip_model_picks_the_technology_from_kind():
    chip = ChipModel.model_validate_json('{"device": {"kind": "rram", "g_max": 5e-5}}')
    assert isinstance(chip.device, RRAMModel) and chip.device.g_max == 5e-5


def test_pcm_defaults_are_ibms_published_fit():
    m = PCMModel()
    assert m.g_max == 25e-6
    assert m.programming.coeffs == [0.26348e-6, 1.9650e-6, -1.1731e-6]
    assert (m.drift.mu.slope, m.drift.mu.intercept, m.drift.mu.lo, m.drift.mu.hi) == (
        -0.0155, 0.0244, 0.049, 0.1)
    assert (m.drift.sigma.slope, m.drift.sigma.intercept, m.drift.sigma.lo,
            m.drift.sigma.hi) == (-0.0125, -0.0059, 0.008, 0.045)
    assert (m.read_noise.coeff, m.read_noise.exponent, m.read_noise.q_max) == (0.0088, 0.65, 0.2)
    assert (m.drift.t0_s, m.read_noise.t_read_s) == (20.0, 250e-9)
    r = RRAMModel()
    assert (r.g_min, r.g_max) == (1e-6, 40e-6)


@pytest.mark.parametrize(
    ("factory", "field"),
    [
        (lambda: PCMModel(read_noise={"coeff": -0.01}), "read_noise.coeff"),
        (lambda: PCMModel(pulse={"c2c_rel": -1}), "pulse.c2c_rel"),
        (lambda: RRAMModel(read_noise={"rel": -0.1}), "read_noise.rel"),
        (lambda: PCMModel(g_min=30e-6), "g_min"),
        (lambda: PCMModel(gmax=1e-5), "gmax"),
        (lambda: PCMModel(endurance={"p_stuck_set": 0.9}), "p_stuck_set"),
        (lambda: ArrayConfig(rows=0), "rows"),
        (lambda: ChipModel.model_validate({"device": {"kind": "flash"}}), "kind"),
    ],
)
def test_bad_values_name_the_field(factory, field):
    with pytest.raises(ValidationError) as err:
        factory()
    assert field.split(".")[-1] in str(err.value)


def test_unknown_field_in_json_is_refused():
    with pytest.raises(ValidationError, match="drift_nu"):
        PCMModel.model_validate_json('{"kind": "pcm", "drift_nu": 0.05}')
