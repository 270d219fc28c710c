# One image for every service of docker-compose.yml: worker, beat, web, flower, simulator.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

COPY pyproject.toml README.md ./
COPY dialer ./dialer
COPY workers ./workers
COPY exotel_sim ./exotel_sim
RUN pip install .

# config/flowerconfig.py is found under the working directory; .dialer holds beat's schedule.
COPY config ./config
RUN useradd --create-home --uid 10001 --user-group dialer \
    && mkdir -p /app/.dialer \
    && chown dialer:dialer /app/.dialer
USER dialer

EXPOSE 8000 5555
CMD ["dialer", "--help"]
