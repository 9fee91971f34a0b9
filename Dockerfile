# One image for every dualsys component in docker-compose.yml (services, gateway, locust).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml setup.py README.md ./
COPY harness ./harness
COPY scenarios ./scenarios
COPY reports ./reports
RUN pip install --no-cache-dir .
ENV PYTHONUNBUFFERED=1
ENTRYPOINT ["dualsys"]
