# One image for every service of docker-compose.yml: worker, beat, web, flower, simulator.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, in a layer of their own (pinned by constraints.txt): a code change
# does not reinstall them. Only the runtime dependencies of pyproject.toml are installed.
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt -c constraints.txt \
    && rm /tmp/requirements.txt

COPY README.md ./
COPY dialer ./dialer
COPY workers ./workers
COPY exotel_sim ./exotel_sim
RUN pip install --no-deps -c constraints.txt .

# config/flowerconfig.py is found under the working directory; .dialer holds beat's schedule.
COPY config ./config
RUN useradd --create-home --uid 10001 --user-group dialer \
    && mkdir -p /app/.dialer \
    && chown dialer:dialer /app/.dialer
USER dialer

EXPOSE 8000 5555
CMD ["dialer", "--help"]
