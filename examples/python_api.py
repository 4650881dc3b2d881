from seqcore_train import ModelConfig, calibrate, evaluate, fit, load_dataset, load_images

train = load_dataset("plates", split="train")  # a manifest, MVTec AD, LabelMe or image folder
model = fit(train, ModelConfig(coreset_size=1024), epochs=3)  # a SeqPatchCore
threshold, f1 = calibrate(model, load_dataset("plates", split="val"))  # stored in the model
report = evaluate(model, load_dataset("plates", split="test"))  # the dict report.json holds
print(f"pixel F1 {report['pixel']['f1']:.3f}, pixel AUROC {report['pixel']['auroc']:.3f}")
model.save("plates.safetensors")  # SeqPatchCore.load and every seqcore-train command read it
images = load_images([r.image for r in train.records[:2]])  # (N, 3, H, W) RGB in [0, 1]
maps, scores = model.predict(images)  # anomaly maps (N, H, W) and image scores (N,)
