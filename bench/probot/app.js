// The minimal Probot app of bench/webhook.py: Probot verifies each delivery's signature, parses it and
// calls this handler, which does nothing more, so what is measured is Probot's own path to a 200.
export default (app) => {
  app.on("issue_comment.created", async () => {});
};
