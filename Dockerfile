# Herald in one image: the server, the CLI and the built dashboard.
FROM node:20-bookworm AS build
WORKDIR /app
COPY package.json package-lock.json nx.json tsconfig.base.json jest.preset.js ./
COPY projections/package.json projections/
COPY server/package.json server/
COPY dashboard/package.json dashboard/
RUN npm ci
COPY . .
RUN NX_DAEMON=false npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production DATA_DIR=/data PORT=3000
COPY --from=build /app /app
VOLUME /data
EXPOSE 3000
CMD ["node", "--max-semi-space-size=64", "--min-semi-space-size=64", "server/dist/main.js"]
