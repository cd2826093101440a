FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY digest ./digest
COPY templates ./templates
COPY migrations ./migrations
RUN pip install --no-cache-dir .
RUN useradd --create-home digest
# The mount point of docker-compose's key volume: an empty named volume takes this directory's owner, so the
# keygen service (running as digest) can write the key there and nobody else can read it.
RUN mkdir -m 700 /run/digest-key && chown digest /run/digest-key
USER digest
WORKDIR /home/digest
CMD ["digest", "run"]
