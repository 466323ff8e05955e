# ovseg_plugins: `make demo` runs the main job, `make test` the whole test suite.
# Both create .venv and install everything on a fresh machine first (make setup).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
STAMP := $(VENV)/.ovseg_setup_done
REQS := $(wildcard requirements/*.txt) setup.py
DEMO_OUT ?= outputs/demo
PYTEST_ARGS ?=

.PHONY: setup demo test clean-venv

setup: $(STAMP)

# Idempotent: each step is a no-op when already satisfied; the whole recipe is
# skipped while the stamp is newer than the requirement files.
$(STAMP): $(REQS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -r requirements/build.txt
	$(PIP) install -q -r requirements/torch.txt
	$(PIP) install -q mmengine==0.10.7
	@# mmcv 2.1.0 has no wheel for this torch: compile it with ops (about 11 min on
	@# 2 cores the first time; pip's wheel cache makes later installs instant).
	@$(PY) -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '2.1.0'" 2>/dev/null || \
	  { echo "Building mmcv 2.1.0 with ops from source (about 11 minutes on 2 cores)..."; \
	    MMCV_WITH_OPS=1 MAX_JOBS=$${MAX_JOBS:-2} $(PIP) install -q --no-build-isolation mmcv==2.1.0; }
	$(PIP) install -q -r requirements/runtime.txt -r requirements/optional.txt -r requirements/tests.txt \
	  -c requirements/torch.txt mmsegmentation==1.2.2 mmdet==3.2.0
	$(PIP) install -q --no-deps -r requirements/nodeps.txt
	$(PIP) install -q --no-deps --no-build-isolation -e .
	$(PY) -c "import mmcv.ops, mmseg.models, mmdet.models, mmdet3d.models, mmdet3d.evaluation, open_clip, ovseg_plugins; print('ovseg_plugins environment OK')"
	@touch $(STAMP)

# The main job on the bundled picture, then the GeoTIFF path on a synthetic
# 16-bit, 4-band, georeferenced scene made at run time (no licensed data).
# One process for both inputs: the class text is encoded once.
demo: setup
	$(PY) tools/demo/make_demo_geotiff.py demo/aerial_demo.png $(DEMO_OUT)/synthetic_scene.tif
	$(PY) tools/demo/image_demo.py demo/aerial_demo.png $(DEMO_OUT)/synthetic_scene.tif \
	  --classes "road,parking lot;building,roof;low vegetation,grass;tree;car;water" \
	  --bands 3 2 1 --tile-size 512 --overlap 64 --polygons geojson --no-progress \
	  --out-dir $(DEMO_OUT)

# GeoPurify on a generated room (posed frames + oracle-like 2D feature maps,
# no weights needed): labels, coloured .ply and a picture in outputs/demo_3d.
.PHONY: demo-3d
DEMO3D_OUT ?= outputs/demo_3d
demo-3d: setup
	$(PY) tools/demo/pointcloud_demo.py --procedural $(DEMO3D_OUT)/scene \
	  --out-dir $(DEMO3D_OUT)

test: setup
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(PY) -m pytest $(PYTEST_ARGS)

clean-venv:
	rm -rf $(VENV)
