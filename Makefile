# Two commands a new user needs: `make run` and `make test`. Both set themselves up.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint format bench clean browser fonts

# The dashboard's browser tests drive Debian's Chromium through its chromedriver.
CHROMIUM := $(shell command -v chromium || command -v chromium-browser)
CHROMEDRIVER := $(shell command -v chromedriver)

# The membership card is drawn with DejaVu Sans (Vietnamese diacritics): Debian's fonts-dejavu-core.
CARD_FONT := /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

run: $(BIN)/.installed fonts
	$(BIN)/congdoan-bot run

fonts:
ifeq ($(wildcard $(CARD_FONT)),)
	apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q fonts-dejavu-core
endif

browser:
ifeq ($(and $(CHROMIUM),$(CHROMEDRIVER)),)
	apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver
endif

test: $(BIN)/.installed browser fonts
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/congdoan-bot content check
	$(BIN)/pytest

format: $(BIN)/.installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(BIN)/.installed
	for script in bench/*.py; do $(BIN)/python $$script; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
