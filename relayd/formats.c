/* formats: see formats.h. */
#include "formats.h"

#include "provider.h"
#include "vertexapi.h"

const struct format *format_of_api(int api)
{
  switch ((enum upstream_api)api) {
  case UPSTREAM_ANTHROPIC:
    return &format_claude;
  case UPSTREAM_GEMINI:
    return &format_gemini;
  case UPSTREAM_RESPONSES:
    return &format_responses;
  case UPSTREAM_BEDROCK:
    return &format_bedrock;
  default:
    return &format_openai;       /* openai, azure, cohere, jina: OpenAI's shapes */
  }
}

const struct format *format_for_model(int api, const char *upstream_model)
{
  const char *name;
  if (api == UPSTREAM_VERTEX)    /* the publisher of the model (vertexapi.h): Claude's or Gemini's */
    return vertex_publisher(upstream_model, &name) == VERTEX_ANTHROPIC ? &format_claude : &format_gemini;
  return format_of_api(api);
}

const struct format *format_of_channel(const struct format *client, const struct provider *p,
                                       const char *upstream_model)
{
  if (client == &format_responses && (p->api == UPSTREAM_OPENAI || p->api == UPSTREAM_AZURE) &&
      provider_serves(p, PE_MEDIA))
    return &format_responses;
  return format_for_model(p->api, upstream_model);
}
