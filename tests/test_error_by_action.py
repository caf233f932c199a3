"""docs/error_by_action.py: P-MPJPE split by action and joint, residual split by axis."""

import numpy as np

from conftest import load_script


def _module():
    return load_script("docs/error_by_action.py")


def test_error_lands_on_the_action_and_joint_and_axis_that_carry_it():
    rng = np.random.default_rng(0)
    target = rng.normal(0.0, 200.0, (40, 17, 3))
    target -= target[:, :1]
    angle = 0.3  # a rigid rotation of every prediction: removed by the alignment
    rot = np.array([[np.cos(angle), 0, np.sin(angle)], [0, 1, 0],
                    [-np.sin(angle), 0, np.cos(angle)]])
    pred = target @ rot.T
    actions = ["Walking"] * 20 + ["Sitting"] * 20
    pred[20:, 6, 2] += 150.0 * np.sign(rng.normal(size=20))  # Sitting: foot depth wrong
    per_joint, xyz = _module().action_joint_errors(pred, target, actions)
    assert set(per_joint) == {"Walking", "Sitting"}
    np.testing.assert_allclose(per_joint["Walking"], 0.0, atol=1e-6)
    sitting = per_joint["Sitting"]
    assert sitting.argmax() == 6 and sitting[6] > 3 * np.delete(sitting, 6).max()
    np.testing.assert_allclose(xyz["Walking"], 0.0, atol=1e-6)
    assert xyz["Sitting"][2] > 2 * max(xyz["Sitting"][:2])
