# syntax=docker/dockerfile:1
# Native AOT build. Both stages are Debian 13 (trixie), so the binary's glibc requirements match
# the runtime image, and scripts/image-smoke can rebuild the runtime stage's file system with
# debootstrap and run the relay in it without a Docker engine (part of scripts/test).
FROM mcr.microsoft.com/dotnet/sdk:10.0-trixie-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends clang zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN dotnet publish Relay.Server/Relay.Server.csproj -c Release -r linux-x64 -o /app \
 && test -x /app/relay \
 && test -f /app/libsecp256k1.so \
 && rm -f /app/*.dbg /app/*.pdb

FROM mcr.microsoft.com/dotnet/runtime-deps:10.0-trixie-slim AS runtime
WORKDIR /app
# The relay binary and libsecp256k1.so (loaded from beside the binary).
COPY --from=build /app/ /app/
# The relay listens on 0.0.0.0:8008 unless RELAY_PORT (or nostpy's WS_PORT) says otherwise;
# no ENV here, so either works, and `relay healthcheck` follows the same setting.
# Non-root user provided by the .NET images (UID 1654).
USER $APP_UID
EXPOSE 8008
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["/app/relay", "healthcheck"]
ENTRYPOINT ["/app/relay"]
