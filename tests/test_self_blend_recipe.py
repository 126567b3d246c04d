"""Self-Blended Images as a training recipe: ``fakes="self-blend"`` on real faces only."""

import json
import shutil

import numpy as np
import pytest
import torch

import fakezoo
from fakezoo.data import decode_dataset
from fakezoo.errors import DatasetError, RunMismatchError
from fakezoo.synth.recipe import self_blended

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SIZE = 32


@pytest.fixture(scope="module")
def real_dir(tmp_path_factory):
    """Twelve demo faces, real ones only."""
    root = fakezoo.make_demo_dataset(
        tmp_path_factory.mktemp("blend") / "faces", n_per_class=12, image_size=48
    )
    shutil.rmtree(root / "fake")
    return root


def blended(real_dir, **kw):
    decoded = decode_dataset(fakezoo.load_dataset(real_dir), SIZE, num_workers=1)
    return self_blended(decoded, **kw)


def validator(**kw):
    settings = dict(
        epochs=2, pretrained=False, image_size=SIZE, device="cpu", progress=False, batch_size=8
    )
    return fakezoo.CrossValidator(**{**settings, "fakes": "self-blend", **kw})


def test_each_face_gets_fixed_seeded_fakes_labelled_fake(real_dir):
    made = blended(real_dir, blends=2, seed=3)
    assert len(made) == 12 * 3 and made.n_real == 12
    assert made.labels.tolist() == [0] * 12 + [1] * 24
    names = made.dataset.relpaths()
    assert names[12] == names[0] + "#self-blend-0" and names[13] == names[0] + "#self-blend-1"
    again = blended(real_dir, blends=2, seed=3)
    assert torch.equal(made.images, again.images)  # a fixed seed gives the same fakes
    other = blended(real_dir, blends=2, seed=4)
    assert not torch.equal(made.images[12:], other.images[12:])
    assert torch.equal(made.images[:12], other.images[:12])  # the real faces are untouched
    # each fake is its own face, blended: most pixels stay the face's own
    for i in range(12):
        fake = made.images[made.partners[i, 0]]
        assert not torch.equal(fake, made.images[i])
        assert (fake == made.images[i]).float().mean() > 0.2
    # a fake's SHA-256 is that of its pixels, so the data digest follows the fakes
    assert made.dataset.digest() != other.dataset.digest()


def test_a_faces_fakes_do_not_depend_on_the_other_faces(real_dir):
    whole = blended(real_dir, blends=1, seed=0)
    data = fakezoo.load_dataset(real_dir)
    part = self_blended(decode_dataset(data.subset([5, 2, 9]), SIZE, num_workers=1), blends=1)
    for row, original in enumerate([5, 2, 9]):
        assert torch.equal(
            part.images[part.partners[row, 0]], whole.images[whole.partners[original, 0]]
        )


def test_the_masks_follow_a_landmarks_file_in_the_dataset(real_dir, tmp_path):
    from fakezoo.faces import write_landmarks

    faces = tmp_path / "faces"
    shutil.copytree(real_dir, faces)
    # every face small, in the top-left corner: eyes, nose, mouth corners as fractions
    corner = np.array([[0.12, 0.12], [0.28, 0.12], [0.2, 0.2], [0.14, 0.28], [0.26, 0.28]])
    names = fakezoo.load_dataset(faces).relpaths()
    write_landmarks(faces / "landmarks.csv", {name: corner for name in names})
    made = validator(blends_per_image=1).decode(faces, SIZE)
    changed = torch.stack(
        [(made.images[made.partners[i, 0]] != made.images[i]).any(0) for i in range(12)]
    )
    assert changed[:, : SIZE // 2, : SIZE // 2].any(dim=(1, 2)).all()  # every fake, up there
    assert not changed[:, SIZE // 2 :, :].any() and not changed[:, :, SIZE // 2 :].any()
    centred = validator(blends_per_image=1).decode(real_dir, SIZE)  # no file: the centre
    moved = torch.stack(
        [(centred.images[centred.partners[i, 0]] != centred.images[i]).any(0) for i in range(12)]
    )
    assert moved[:, SIZE // 2 :, SIZE // 2 :].any()


def test_online_mode_draws_new_fakes_every_epoch(real_dir):
    made = blended(real_dir, blends=3, seed=0, online=True)
    assert made.partners.shape == (24, 1)  # one fixed fake per face, for validation
    rows = np.arange(4)
    first = made.fresh_fakes(made.images, rows, epoch=0, fold=1)
    assert torch.equal(first, made.fresh_fakes(made.images, rows, epoch=0, fold=1))
    assert not torch.equal(first, made.fresh_fakes(made.images, rows, epoch=1, fold=1))
    cached = blended(real_dir, blends=2, seed=0)
    assert cached.partner_rows(rows, 0).tolist() == cached.partner_rows(rows, 2).tolist()
    assert cached.partner_rows(rows, 0).tolist() != cached.partner_rows(rows, 1).tolist()


def capture_training_batches(cv, real_dir):
    """Run ``cv`` on the faces with the whole model every step, recording each training
    batch's images as the model receives them, per epoch."""
    seen: list[list[torch.Tensor]] = [[]]
    model = cv.template("mobilenet_v2", finetune=False)

    def record(module, args):
        if module.training:
            seen[-1].append(args[0].detach().clone())

    def next_epoch(fold, epoch, accuracy):
        seen.append([])

    handle = model.register_forward_pre_hook(record)
    try:
        cv.run("mobilenet_v2", real_dir, finetune=False, lr=1e-3, on_epoch=next_epoch)
    finally:
        handle.remove()
    return [epoch for epoch in seen if epoch]


@pytest.mark.parametrize("mode", ["cached", "online"])
def test_every_batch_pairs_each_face_with_a_fake_of_it(real_dir, mode):
    cv = validator(blend_mode=mode, blends_per_image=1, cache_trunk=False, n_splits=2)
    epochs = capture_training_batches(cv, real_dir)
    assert len(epochs) == 2 * 2  # 2 folds x 2 epochs
    for batch in (b for epoch in epochs for b in epoch):
        half = len(batch) // 2
        assert len(batch) == 2 * half and half <= 4  # batch_size 8: 4 faces and their fakes
        real, fake = batch[:half], batch[half:]
        for i in range(half):  # a fake agrees with its own face outside the blend mask
            same = (fake[i] == real[i]).all(dim=0).float().mean()
            others = [(fake[i] == real[j]).all(dim=0).float().mean() for j in range(half) if j != i]
            assert same > 0.2 and all(o < same for o in others)
    # fold 1's two epochs: the same fakes in cached mode, new ones online
    fakes = [torch.cat([b[len(b) // 2 :] for b in epoch]) for epoch in epochs[:2]]
    sort = [f.flatten(1).sum(1).sort().values for f in fakes]
    assert torch.allclose(sort[0], sort[1]) == (mode == "cached")


def test_a_real_only_dataset_trains_and_records_the_recipe(real_dir, tmp_path):
    out = tmp_path / "run"
    result = validator(blends_per_image=2).run(
        "mobilenet_v2", real_dir, finetune=False, lr=1e-3, out_dir=out
    )
    assert result.fingerprint["fakes"] == "self-blend (cached, 2 per face, v1)"
    config = json.loads((out / "config.json").read_text())
    assert config["settings"]["fakes"] == "self-blend (cached, 2 per face, v1)"
    assert any(d.startswith("Fakes: self-blend") for d in result.deviations)
    for fold in result.folds:  # each held-out face and its first fake, balanced
        names = fold.val_files
        reals = [n for n in names if "#" not in n]
        assert sorted(n for n in names if "#" in n) == sorted(n + "#self-blend-0" for n in reals)
        assert fold.y_true.count(0) == fold.y_true.count(1) == len(reals)
    held_out = [set(n.split("#")[0] for n in f.val_files) for f in result.folds]
    assert sum(len(h) for h in held_out) == 12 and set.union(*held_out) == {
        p for p in fakezoo.load_dataset(real_dir).relpaths()
    }
    from fakezoo.hub import model_card

    card = model_card(out, "tester/sbi")
    assert "**Fakes**: made from the real training faces by self-blend (cached, 2 per face" in card
    # it predicts like any other run
    detector = fakezoo.load(out, device="cpu")
    assert 0.0 <= detector.predict(real_dir / "real" / "real_00000.jpg").prob_fake <= 1.0
    # resuming with another recipe is refused, naming it
    with pytest.raises(RunMismatchError, match="fakes"):
        validator(blend_mode="online").run(
            "mobilenet_v2", real_dir, finetune=False, lr=1e-3, out_dir=out
        )


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"blend_mode": "online"}, {"fakes", "cache_trunk"}),  # the same fixed fakes
        ({"blends_per_image": 2}, {"fakes", "data_sha256", "n_images", "folds"}),
        ({"seed": 1}, {"seed", "data_sha256", "folds"}),  # other fakes, other folds
    ],
)
def test_the_recipe_is_in_the_fingerprint_and_the_record(real_dir, change, fields):
    def describe(cv):
        template = cv.template("mobilenet_v2", finetune=False)
        decoded = cv.decode(real_dir, SIZE)
        return cv.describe(template, decoded, cv.make_folds(decoded), 1e-3)

    base = validator(blends_per_image=1, trunk_backend="torch")
    before, after = describe(base), describe(base.replace(**change))
    assert {d[0] for d in before.fingerprint.diff(after.fingerprint)} == fields
    assert before.settings != after.settings


def test_a_dataset_with_fakes_is_refused_for_self_blending(demo_dir):
    with pytest.raises(DatasetError, match=r"has 12 fake images.*fakes=.dataset."):
        validator().run("mobilenet_v2", demo_dir, finetune=False, lr=1e-3)


def test_real_images_alone_without_self_blending_point_to_it(real_dir):
    cv = validator(fakes="dataset")
    with pytest.raises(DatasetError, match=r"only real images.*--fakes self-blend"):
        cv.run("mobilenet_v2", real_dir, finetune=False, lr=1e-3)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"fakes": "blend"}, "fakes='blend'"),
        ({"blend_mode": "fresh"}, "blend_mode='fresh'"),
        ({"blends_per_image": 0}, "blends_per_image=0"),
    ],
)
def test_bad_recipe_settings_are_refused(change, message):
    with pytest.raises(ValueError, match=message):
        fakezoo.TrainSettings(**change)


def test_the_cli_trains_on_real_faces_with_self_blend(cli, real_dir, tmp_path):
    code, _, err = cli(
        "cv", real_dir, "--model", "mobilenet_v2", "--no-finetune", "--lr", "1e-3",
        "--epochs", "1", "--image-size", SIZE, "--no-pretrained", "--device", "cpu",
        "--fakes", "self-blend", "--blends-per-image", "1", "--out", tmp_path / "run",
    )  # fmt: skip
    assert code == 0, err
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["fingerprint"]["fakes"] == "self-blend (cached, 1 per face, v1)"
    code, _, err = cli("cv", real_dir, "--model", "mobilenet_v2", "--lr", "1e-3",
                       "--out", tmp_path / "x", "--blend-mode", "fresh")  # fmt: skip
    assert code == 2 and "--blend-mode" in err


def test_an_lr_search_runs_on_self_blended_faces(real_dir):
    found = fakezoo.optuna_lr_search(
        "mobilenet_v2",
        real_dir,
        finetune=False,
        n_trials=2,
        cv=validator(epochs=1, blends_per_image=1),
    )
    assert found.cv_result.fingerprint["fakes"] == "self-blend (cached, 1 per face, v1)"
