FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY digest ./digest
COPY templates ./templates
COPY migrations ./migrations
RUN pip install --no-cache-dir .
RUN useradd --create-home digest
USER digest
WORKDIR /home/digest
CMD ["digest", "run"]
