FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    SAMPLEWISE_VAR_DIR=/var/lib/samplewise

WORKDIR /app

COPY requirements.txt .
# The CPU build of torch keeps the image small; GPU images install the CUDA build instead.
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu -r requirements.txt

COPY . .
RUN useradd --create-home --uid 1000 samplewise \
    && mkdir -p /var/lib/samplewise \
    && chown samplewise /var/lib/samplewise \
    && DEBUG=1 DATABASE_URL=postgres://build@localhost/build python manage.py collectstatic --noinput
USER samplewise

EXPOSE 8000
CMD ["gunicorn", "backend.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "300"]
