/* Builds small ONNX models in memory with the protobuf-c API, for regression
 * tests of graphs the fixtures do not cover. Adapted from a review's reproducers. */
#include "onnx.pb-c.h"
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

/* Every allocation of the builder is tracked so mk_free_all() releases the
 * whole model, keeping LeakSanitizer meaningful for the library under test.
 * The macros are undefined at the end of this header. */
static void *mk_ptrs[8192];
static int mk_np;
static void *mk_track(void *p) { if (p && mk_np < 8192) mk_ptrs[mk_np++] = p; return p; }
static void *mk_retrack(void *old, void *p)
{
    for (int i = 0; i < mk_np; i++)
        if (mk_ptrs[i] == old && old) { mk_ptrs[i] = p; return p; }
    return mk_track(p);
}
#define calloc(a, b) mk_track(calloc(a, b))
#define malloc(a) mk_track(malloc(a))
#define strdup(a) mk_track(strdup(a))
#define realloc(p, n) mk_retrack((p), realloc((p), (n)))
static Onnx__GraphProto G;
static Onnx__NodeProto *nodes[64]; static int nn;
static Onnx__TensorProto *inits[64]; static int ni;
static void mk_init(const char *name, int nd, const int64_t *dims, const float *vals){
    Onnx__TensorProto *t = calloc(1,sizeof *t); onnx__tensor_proto__init(t);
    t->name = strdup(name); t->data_type = 1; t->has_data_type = 1; t->n_dims = nd; t->dims = malloc(8*nd); memcpy(t->dims,dims,8*nd);
    int64_t c=1; for(int i=0;i<nd;i++) c*=dims[i];
    t->n_float_data = c; t->float_data = malloc(4*c); memcpy(t->float_data, vals, 4*c);
    inits[ni++] = t;
}
static inline void mk_init_i64(const char *name, int nd, const int64_t *dims, const int64_t *vals){
    Onnx__TensorProto *t = calloc(1,sizeof *t); onnx__tensor_proto__init(t);
    t->name = strdup(name); t->data_type = 7; t->has_data_type = 1; t->n_dims = nd; t->dims = malloc(8*nd); memcpy(t->dims,dims,8*nd);
    int64_t c=1; for(int i=0;i<nd;i++) c*=dims[i];
    t->n_int64_data = c; t->int64_data = malloc(8*c); memcpy(t->int64_data, vals, 8*c);
    inits[ni++] = t;
}
static Onnx__NodeProto *mk_node(const char *op, int nin, const char **in, const char *out){
    Onnx__NodeProto *n = calloc(1,sizeof *n); onnx__node_proto__init(n);
    n->op_type = strdup(op); n->name = strdup(out); n->n_input = nin; n->input = malloc(sizeof(char*)*nin);
    for(int i=0;i<nin;i++) n->input[i]=strdup(in[i]);
    n->n_output=1; n->output=malloc(sizeof(char*)); n->output[0]=strdup(out);
    nodes[nn++]=n; return n;
}
static void mk_attr_ints(Onnx__NodeProto *n, const char *name, int cnt, const int64_t *v){
    Onnx__AttributeProto *a = calloc(1,sizeof *a); onnx__attribute_proto__init(a);
    a->name=strdup(name); a->type=ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS; a->has_type=1; a->n_ints=cnt; a->ints=malloc(8*cnt); memcpy(a->ints,v,8*cnt);
    n->attribute = realloc(n->attribute, sizeof(void*)*(n->n_attribute+1)); n->attribute[n->n_attribute++]=a;
}
static size_t mk_model(const char *inname, int nd, const int64_t *shape, const char *outname, uint8_t **buf){
    onnx__graph_proto__init(&G);
    G.name="g"; G.n_node=nn; G.node=nodes; G.n_initializer=ni; G.initializer=inits;
    Onnx__ValueInfoProto *vi = calloc(1,sizeof *vi); onnx__value_info_proto__init(vi); vi->name=strdup(inname);
    Onnx__TypeProto *tp = calloc(1,sizeof *tp); onnx__type_proto__init(tp);
    Onnx__TypeProto__Tensor *tt = calloc(1,sizeof *tt); onnx__type_proto__tensor__init(tt); tt->elem_type=1; tt->has_elem_type=1;
    Onnx__TensorShapeProto *sp = calloc(1,sizeof *sp); onnx__tensor_shape_proto__init(sp);
    sp->n_dim=nd; sp->dim=malloc(sizeof(void*)*nd);
    for(int i=0;i<nd;i++){ Onnx__TensorShapeProto__Dimension *d=calloc(1,sizeof *d); onnx__tensor_shape_proto__dimension__init(d);
        if(shape[i]>0){d->value_case=ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE; d->dim_value=shape[i]; }
        else {d->value_case=ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM; d->dim_param="N";}
        sp->dim[i]=d;}
    tt->shape=sp; tp->value_case=ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE; tp->tensor_type=tt; vi->type=tp;
    G.n_input=1; G.input=malloc(sizeof(void*)); G.input[0]=vi;
    Onnx__ValueInfoProto *vo = calloc(1,sizeof *vo); onnx__value_info_proto__init(vo); vo->name=strdup(outname);
    G.n_output=1; G.output=malloc(sizeof(void*)); G.output[0]=vo;
    Onnx__ModelProto M; onnx__model_proto__init(&M); M.ir_version=7; M.has_ir_version=1; M.graph=&G;
    Onnx__OperatorSetIdProto *os=calloc(1,sizeof *os); onnx__operator_set_id_proto__init(os); os->version=13; os->has_version=1; os->domain="";
    M.n_opset_import=1; M.opset_import=&os;
    size_t len = onnx__model_proto__get_packed_size(&M); *buf=malloc(len); onnx__model_proto__pack(&M,*buf); return len;
}

#undef calloc
#undef malloc
#undef strdup
#undef realloc

/* Frees everything the builder allocated (including the packed buffer). */
static void mk_free_all(void)
{
    for (int i = 0; i < mk_np; i++)
        free(mk_ptrs[i]);
    mk_np = 0;
    nn = ni = 0;
}
