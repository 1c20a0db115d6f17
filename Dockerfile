# txstream worker image: build the TypeScript, then ship only runtime dependencies.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY patches ./patches
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts ./scripts
RUN npm run build

FROM node:24-bookworm-slim
# The ops server (TXSTREAM_METRICS_PORT) listens on the container's interfaces.
ENV NODE_ENV=production TXSTREAM_LOG_FORMAT=json TXSTREAM_METRICS_HOST=0.0.0.0
WORKDIR /app
COPY package.json package-lock.json ./
COPY patches ./patches
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY topics ./topics
COPY examples ./examples
USER node
# Exec form: node is PID 1 and gets SIGTERM itself, so `docker stop` drains the worker.
ENTRYPOINT ["node", "bin/txstream.js"]
CMD ["run"]
